;; shout: a WASM plugin in WebAssembly text (see docs/plugin-abi.md).
;;  - on_message: rewrites the message to upper case (ASCII letters) before the agent sees it;
;;  - /shout <text>: answers with <text> in upper case.
;; It parses no JSON: it finds the first `"text":"` (or `"args":"`) and copies the string after it
;; up to its closing quote, upper-casing a-z and copying escapes as they are.
(module
  (memory (export "memory") 1)
  ;; A bump allocator from 4096 up. The host calls dealloc only after it has read a call's result,
  ;; when nothing of the call is alive any more, so dealloc frees everything at once.
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "{\"action\":\"rewrite\",\"text\":\"")  ;; 28 bytes
  (data (i32.const 64) "{\"action\":\"reply\",\"text\":\"")    ;; 26 bytes
  (data (i32.const 128) "\"text\":\"")                          ;; 8 bytes
  (data (i32.const 136) "\"args\":\"")                          ;; 8 bytes

  (func $alloc (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                                      (i32.const 16)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  (func (export "dealloc") (param $p i32) (param $n i32)
    (global.set $heap (i32.const 4096)))

  ;; The address just after the 8-byte pattern at $pat in [$p, $end), or 0.
  (func $find (param $p i32) (param $end i32) (param $pat i32) (result i32)
    (local $want i64)
    (local.set $want (i64.load (local.get $pat)))
    (block $done
      (loop $scan
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (if (i64.eq (i64.load (local.get $p)) (local.get $want))
          (then (return (i32.add (local.get $p) (i32.const 8)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))

  ;; Writes prefix + upper-cased string at $src + `"}`; returns ptr<<32|len.
  (func $shout (param $src i32) (param $end i32) (param $prefix i32) (param $plen i32) (result i64)
    (local $out i32) (local $j i32) (local $c i32)
    (local.set $out (call $alloc (i32.add (i32.sub (local.get $end) (local.get $src)) (i32.const 64))))
    (if (i32.eqz (local.get $out)) (then (unreachable)))
    (memory.copy (local.get $out) (local.get $prefix) (local.get $plen))
    (local.set $j (i32.add (local.get $out) (local.get $plen)))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $src)))
        (br_if $done (i32.eq (local.get $c) (i32.const 34)))          ;; closing quote
        (if (i32.eq (local.get $c) (i32.const 92))                   ;; backslash: copy the pair
          (then
            (i32.store8 (local.get $j) (local.get $c))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (local.set $src (i32.add (local.get $src) (i32.const 1)))
            (local.set $c (i32.load8_u (local.get $src))))
          (else
            (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
              (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))))
        (i32.store8 (local.get $j) (local.get $c))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $copy)))
    (i32.store8 (local.get $j) (i32.const 34))
    (i32.store8 (i32.add (local.get $j) (i32.const 1)) (i32.const 125))
    (local.set $j (i32.add (local.get $j) (i32.const 2)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $j) (local.get $out)))))

  ;; The event name starts at byte 10: {"event":"message" / "command" / "cron" / "start" / "stop".
  (func (export "handle") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $kind i32) (local $at i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $kind (i32.load8_u (i32.add (local.get $p) (i32.const 10))))
    (if (i32.eq (local.get $kind) (i32.const 109))                   ;; 'm': message
      (then
        (local.set $at (call $find (local.get $p) (local.get $end) (i32.const 128)))
        (if (i32.eqz (local.get $at)) (then (return (i64.const 0))))
        (return (call $shout (local.get $at) (local.get $end) (i32.const 16) (i32.const 28)))))
    (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 11))) (i32.const 111))  ;; "co": command
      (then
        (local.set $at (call $find (local.get $p) (local.get $end) (i32.const 136)))
        (if (i32.eqz (local.get $at)) (then (return (i64.const 0))))
        (return (call $shout (local.get $at) (local.get $end) (i32.const 64) (i32.const 26)))))
    (i64.const 0))
)

/* counter: a WASM plugin in C (freestanding, no libc, no WASI), built by scripts/build-wasm-examples.sh.
 *
 *   /count          adds one to a counter kept in the plugin's storage and answers with it
 *   /words <text>   answers with the number of words in <text>
 *   /fetch <url>    fetches <url> through web.fetch and answers with the status, or with the
 *                   host's error (without the `web` permission: "permission denied ...")
 *
 * The ABI is in docs/plugin-abi.md: JSON in and out through linear memory, one import
 * `rustyclaw.host_call`. The JSON handling here is deliberately tiny: it finds a key's string
 * or number value; it is enough for the host's fixed shapes, not a general parser.
 */
typedef unsigned int u32;
typedef unsigned long long u64;

__attribute__((import_module("rustyclaw"), import_name("host_call")))
extern u64 host_call(const char *request, u32 len);

/* A bump allocator over the memory after the program's data. The host calls dealloc only when a
 * call is over, so dealloc frees everything at once. */
extern unsigned char __heap_base;
static u32 heap_top = 0;

__attribute__((export_name("alloc")))
void *alloc(u32 len) {
    if (heap_top == 0) heap_top = (u32)&__heap_base;
    u32 p = (heap_top + 7u) & ~7u;
    u32 end = p + len;
    u32 have = (u32)__builtin_wasm_memory_size(0) << 16;
    if (end > have) {
        if (__builtin_wasm_memory_grow(0, ((end - have) + 65535u) >> 16) == (unsigned long)-1) return 0;
    }
    heap_top = end;
    return (void *)p;
}

__attribute__((export_name("dealloc")))
void dealloc(void *ptr, u32 len) {
    (void)ptr; (void)len;
    heap_top = (u32)&__heap_base;
}

static u32 slen(const char *s) { u32 n = 0; while (s[n]) n++; return n; }

/* A growing output buffer. */
typedef struct { char *p; u32 n; u32 cap; } buf;

static void put(buf *b, const char *s, u32 n) {
    if (b->n + n > b->cap) {
        u32 cap = (b->cap + n) * 2;
        char *q = alloc(cap);
        if (!q) __builtin_trap();
        for (u32 i = 0; i < b->n; i++) q[i] = b->p[i];
        b->p = q; b->cap = cap;
    }
    for (u32 i = 0; i < n; i++) b->p[b->n++] = s[i];
}
static void puts_(buf *b, const char *s) { put(b, s, slen(s)); }

static void put_uint(buf *b, u64 v) {
    char tmp[24]; u32 n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) put(b, &tmp[--n], 1);
}

/* Appends s[0..n) as the inside of a JSON string; `raw_escapes` keeps backslash pairs as they are
 * (text that came from JSON already), otherwise quotes and backslashes are escaped. */
static void put_json_text(buf *b, const char *s, u32 n, int raw_escapes) {
    for (u32 i = 0; i < n; i++) {
        char c = s[i];
        if (raw_escapes && c == '\\' && i + 1 < n) { put(b, &s[i], 2); i++; continue; }
        if (c == '"' || c == '\\') { put(b, "\\", 1); put(b, &c, 1); }
        else if ((unsigned char)c < 0x20) put(b, " ", 1);
        else put(b, &c, 1);
    }
}

/* Where the value of "key": starts in [p, p+n), or 0. */
static const char *find_key(const char *p, u32 n, const char *key) {
    u32 k = slen(key);
    for (u32 i = 0; i + k + 3 <= n; i++) {
        if (p[i] != '"') continue;
        u32 j = 0;
        while (j < k && p[i + 1 + j] == key[j]) j++;
        if (j == k && p[i + 1 + k] == '"' && p[i + 2 + k] == ':') return p + i + 3 + k;
    }
    return 0;
}

/* The raw inside of the JSON string at v (escapes kept), its length in *len. */
static const char *string_at(const char *v, const char *end, u32 *len) {
    if (!v || v >= end || *v != '"') { *len = 0; return 0; }
    const char *s = ++v;
    while (v < end && *v != '"') { if (*v == '\\') v++; v++; }
    *len = (u32)(v - s);
    return s;
}

static u64 number_at(const char *v, const char *end) {
    u64 x = 0;
    while (v && v < end && *v >= '0' && *v <= '9') x = x * 10 + (u64)(*v++ - '0');
    return x;
}

static u64 done(buf *b) { return ((u64)(u32)b->p << 32) | b->n; }

static u64 reply_start(buf *b) { puts_(b, "{\"action\":\"reply\",\"text\":\""); return 0; }
static u64 reply_end(buf *b) { puts_(b, "\"}"); return done(b); }

/* Calls the host; resp and resp_len get its JSON answer ({"ok":..., "result"|"error":...}). */
static int call_host(buf *req, const char **resp, u32 *resp_len) {
    u64 packed = host_call(req->p, req->n);
    *resp = (const char *)(u32)(packed >> 32);
    *resp_len = (u32)packed;
    return *resp_len > 0 && find_key(*resp, *resp_len, "ok") && *find_key(*resp, *resp_len, "ok") == 't';
}

static u64 cmd_count(void) {
    const char *resp; u32 rn;
    buf req = {0};
    puts_(&req, "{\"api\":\"storage.get\",\"args\":{\"key\":\"count\"}}");
    u64 count = 0;
    buf out = {0};
    if (!call_host(&req, &resp, &rn)) {
        u32 en; const char *e = string_at(find_key(resp, rn, "error"), resp + rn, &en);
        reply_start(&out); put_json_text(&out, e, en, 1); return reply_end(&out);
    }
    count = number_at(find_key(resp, rn, "result"), resp + rn) + 1;
    buf set = {0};
    puts_(&set, "{\"api\":\"storage.set\",\"args\":{\"key\":\"count\",\"value\":");
    put_uint(&set, count);
    puts_(&set, "}}");
    call_host(&set, &resp, &rn);
    reply_start(&out);
    puts_(&out, "count: ");
    put_uint(&out, count);
    return reply_end(&out);
}

static u64 cmd_words(const char *args, u32 n) {
    u64 words = 0; int in_word = 0;
    for (u32 i = 0; i < n; i++) {
        int space = args[i] == ' ' || (args[i] == '\\' && i + 1 < n && (args[i + 1] == 'n' || args[i + 1] == 't'));
        if (space) { in_word = 0; if (args[i] == '\\') i++; }
        else if (!in_word) { in_word = 1; words++; }
    }
    buf out = {0};
    reply_start(&out);
    put_uint(&out, words);
    puts_(&out, words == 1 ? " word" : " words");
    return reply_end(&out);
}

static u64 cmd_fetch(const char *url, u32 n) {
    buf req = {0};
    puts_(&req, "{\"api\":\"web.fetch\",\"args\":{\"url\":\"");
    put_json_text(&req, url, n, 1);
    puts_(&req, "\"}}");
    const char *resp; u32 rn;
    buf out = {0};
    reply_start(&out);
    if (call_host(&req, &resp, &rn)) {
        puts_(&out, "status ");
        put_uint(&out, number_at(find_key(resp, rn, "status"), resp + rn));
    } else {
        u32 en; const char *e = string_at(find_key(resp, rn, "error"), resp + rn, &en);
        puts_(&out, "error: ");
        put_json_text(&out, e, en, 1);
    }
    return reply_end(&out);
}

static int eq(const char *s, u32 n, const char *lit) {
    u32 k = slen(lit);
    if (n != k) return 0;
    for (u32 i = 0; i < n; i++) if (s[i] != lit[i]) return 0;
    return 1;
}

__attribute__((export_name("handle")))
u64 handle(const char *event, u32 len) {
    const char *end = event + len;
    u32 kn; const char *kind = string_at(find_key(event, len, "event"), end, &kn);
    if (!eq(kind, kn, "command")) return 0;
    u32 cn; const char *cmd = string_at(find_key(event, len, "command"), end, &cn);
    u32 an; const char *args = string_at(find_key(event, len, "args"), end, &an);
    if (eq(cmd, cn, "count")) return cmd_count();
    if (eq(cmd, cn, "words")) return cmd_words(args, an);
    if (eq(cmd, cn, "fetch")) return cmd_fetch(args, an);
    return 0;
}

-- Compaction entries (OpenClaw's transcript `compaction` entry). The entry itself is a message row
-- (role 'system', meta {"compaction": {"firstKeptEntryId", "tokensBefore", ...}}, content = the
-- summary), so every message stays in `messages` and copies between backends carry it as it is.
-- This table indexes the entries: the latest one of a session and its first kept message are found
-- without reading the transcript (messages_id_once already indexes messages by (session_id, id)).
CREATE TABLE compactions (
    session_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    first_kept_entry_id TEXT,
    tokens_before BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE FUNCTION messages_record_compaction() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry jsonb;
BEGIN
    BEGIN
        entry := NEW.meta::jsonb -> 'compaction';
    EXCEPTION WHEN others THEN
        RETURN NEW;  -- meta that is not JSON is the codec's concern, not a reason to refuse the row
    END;
    IF jsonb_typeof(entry) = 'object' THEN
        INSERT INTO compactions (session_id, seq, entry_id, first_kept_entry_id, tokens_before, created_at)
        VALUES (
            NEW.session_id, NEW.seq, NEW.id, entry ->> 'firstKeptEntryId',
            COALESCE(CASE WHEN jsonb_typeof(entry -> 'tokensBefore') = 'number'
                          THEN (entry ->> 'tokensBefore')::numeric::bigint END, 0),
            NEW.created_at
        );
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER messages_compaction AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.role = 'system' AND NEW.meta IS NOT NULL)
    EXECUTE FUNCTION messages_record_compaction();

-- Entries stored before this migration (imported OpenClaw transcripts).
INSERT INTO compactions (session_id, seq, entry_id, first_kept_entry_id, tokens_before, created_at)
SELECT session_id, seq, id, meta::jsonb -> 'compaction' ->> 'firstKeptEntryId',
       COALESCE(CASE WHEN jsonb_typeof(meta::jsonb -> 'compaction' -> 'tokensBefore') = 'number'
                     THEN (meta::jsonb -> 'compaction' ->> 'tokensBefore')::numeric::bigint END, 0),
       created_at
FROM messages
WHERE role = 'system' AND meta IS NOT NULL AND meta LIKE '%"compaction"%'
  AND jsonb_typeof(meta::jsonb -> 'compaction') = 'object';

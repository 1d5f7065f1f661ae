-- Compaction entries (OpenClaw's transcript `compaction` entry). The entry itself is a message row
-- (role 'system', meta {"compaction": {"firstKeptEntryId", "tokensBefore", ...}}, content = the
-- summary), so every message stays in `messages` and copies between backends carry it as it is.
-- This table indexes the entries: the latest one of a session and its first kept message are found
-- without reading the transcript.
CREATE TABLE compactions (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    first_kept_entry_id TEXT,
    tokens_before INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- The first kept message is looked up by id within its session.
CREATE INDEX messages_by_id ON messages (session_id, id);

CREATE TRIGGER messages_record_compaction AFTER INSERT ON messages
WHEN NEW.role = 'system' AND NEW.meta IS NOT NULL AND json_valid(NEW.meta)
    AND json_type(NEW.meta, '$.compaction') = 'object'
BEGIN
    INSERT INTO compactions (session_id, seq, entry_id, first_kept_entry_id, tokens_before, created_at)
    VALUES (
        NEW.session_id, NEW.seq, NEW.id,
        json_extract(NEW.meta, '$.compaction.firstKeptEntryId'),
        COALESCE(CAST(json_extract(NEW.meta, '$.compaction.tokensBefore') AS INTEGER), 0),
        NEW.created_at
    );
END;

-- Entries stored before this migration (imported OpenClaw transcripts).
INSERT INTO compactions (session_id, seq, entry_id, first_kept_entry_id, tokens_before, created_at)
SELECT session_id, seq, id, json_extract(meta, '$.compaction.firstKeptEntryId'),
       COALESCE(CAST(json_extract(meta, '$.compaction.tokensBefore') AS INTEGER), 0), created_at
FROM messages
WHERE role = 'system' AND meta IS NOT NULL AND json_valid(meta) AND json_type(meta, '$.compaction') = 'object';

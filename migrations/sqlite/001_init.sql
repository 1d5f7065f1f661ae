-- Session index, transcript registry and messages. Timestamps are Unix seconds (REAL).

-- One row per session key: the SessionEntry fields; meta is a JSON object or NULL when empty.
CREATE TABLE sessions (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    chat_type TEXT NOT NULL,
    channel TEXT,
    last_channel TEXT,
    last_to TEXT,
    last_account_id TEXT,
    model TEXT,
    model_provider TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    context_tokens INTEGER NOT NULL DEFAULT 0,
    compaction_count INTEGER NOT NULL DEFAULT 0,
    elevated_level TEXT NOT NULL DEFAULT 'off',
    tts TEXT NOT NULL DEFAULT 'off',
    meta TEXT
);

CREATE INDEX sessions_by_agent ON sessions (agent_id);

-- Every transcript a key has had. archived_at is NULL for the live one and set when the key
-- moves to a new session id (reset); archived transcripts keep their messages.
CREATE TABLE transcripts (
    session_id TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    archived_at REAL
);

CREATE INDEX transcripts_by_key ON transcripts (session_key);

-- seq is the rowid: it only grows, so ordering by it is append order within every session
-- and no per-append "max(seq)" round trip is needed.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    name TEXT,
    created_at REAL NOT NULL,
    tokens INTEGER NOT NULL,
    inbound_id TEXT,
    meta TEXT
);

CREATE INDEX messages_by_session ON messages (session_id, seq);

-- A platform message stored once per session, however often it is delivered.
CREATE UNIQUE INDEX messages_inbound_once ON messages (session_id, inbound_id)
    WHERE inbound_id IS NOT NULL;

-- The transcript registry follows the index in the same statement, so put_session stays one
-- autocommit statement (one round trip) and a moved key archives its old transcript atomically.
CREATE TRIGGER sessions_register_transcript AFTER INSERT ON sessions
BEGIN
    INSERT INTO transcripts (session_id, session_key, agent_id, created_at)
    VALUES (NEW.session_id, NEW.key, NEW.agent_id, NEW.created_at)
    ON CONFLICT (session_id) DO UPDATE SET
        session_key = excluded.session_key, agent_id = excluded.agent_id, archived_at = NULL;
END;

CREATE TRIGGER sessions_switch_transcript AFTER UPDATE OF session_id ON sessions
WHEN NEW.session_id <> OLD.session_id
BEGIN
    UPDATE transcripts SET archived_at = NEW.updated_at
    WHERE session_id = OLD.session_id AND archived_at IS NULL;
    INSERT INTO transcripts (session_id, session_key, agent_id, created_at)
    VALUES (NEW.session_id, NEW.key, NEW.agent_id, NEW.created_at)
    ON CONFLICT (session_id) DO UPDATE SET
        session_key = excluded.session_key, agent_id = excluded.agent_id, archived_at = NULL;
END;

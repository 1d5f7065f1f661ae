-- Session index, transcript registry and messages: the SQLite schema (migrations/sqlite/001_init.sql)
-- in PostgreSQL types. Timestamps are Unix seconds; meta and tool_calls are JSON text, exactly as
-- the store wrote them (the store never queries inside them).

CREATE TABLE sessions (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    chat_type TEXT NOT NULL,
    channel TEXT,
    last_channel TEXT,
    last_to TEXT,
    last_account_id TEXT,
    model TEXT,
    model_provider TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    context_tokens BIGINT NOT NULL DEFAULT 0,
    compaction_count INTEGER NOT NULL DEFAULT 0,
    elevated_level TEXT NOT NULL DEFAULT 'off',
    tts TEXT NOT NULL DEFAULT 'off',
    meta TEXT
);

CREATE INDEX sessions_by_agent ON sessions (agent_id);

-- Every transcript a key has had; archived_at is NULL for the live one, set by a reset.
CREATE TABLE transcripts (
    session_id TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    archived_at DOUBLE PRECISION
);

CREATE INDEX transcripts_by_key ON transcripts (session_key);

-- seq only grows, so ordering by it is append order within every session.
CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    name TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    tokens INTEGER NOT NULL,
    inbound_id TEXT,
    meta TEXT
);

CREATE INDEX messages_by_session ON messages (session_id, seq);

-- A retried append (the connection dropped after the commit) finds its own rows here and adds
-- nothing; message ids are unique within a session.
CREATE UNIQUE INDEX messages_id_once ON messages (session_id, id);

-- A platform message stored once per session, however often it is delivered.
CREATE UNIQUE INDEX messages_inbound_once ON messages (session_id, inbound_id)
    WHERE inbound_id IS NOT NULL;

-- The transcript registry follows the index in the same statement (see the SQLite triggers).
CREATE FUNCTION sessions_follow_transcript() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.session_id = OLD.session_id THEN
            RETURN NEW;
        END IF;
        UPDATE transcripts SET archived_at = NEW.updated_at
        WHERE session_id = OLD.session_id AND archived_at IS NULL;
    END IF;
    INSERT INTO transcripts (session_id, session_key, agent_id, created_at)
    VALUES (NEW.session_id, NEW.key, NEW.agent_id, NEW.created_at)
    ON CONFLICT (session_id) DO UPDATE SET
        session_key = excluded.session_key, agent_id = excluded.agent_id, archived_at = NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER sessions_transcript AFTER INSERT OR UPDATE OF session_id ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_follow_transcript();

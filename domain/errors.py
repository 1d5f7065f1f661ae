"""The project's one error tree. Adapters translate their libraries' exceptions into these at the edge."""

from __future__ import annotations


class RustyClawError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(RustyClawError):
    """A configuration file or value is wrong; the message names the file, key path and value."""


class MissingExtraError(RustyClawError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: install it with pip install 'rustyclaw[{extra}]'"
        )
        self.package = package
        self.extra = extra


class StorageError(RustyClawError):
    """The store failed to read or write."""


class StorageUnavailableError(StorageError):
    """The store cannot be reached (database down, folder not writable)."""


class SchemaVersionError(StorageError):
    """The store was written by a newer RustyClaw than this one."""


class CorruptDataError(StorageError):
    """Stored data could not be parsed; the damaged part was kept aside, not dropped."""


class LLMError(RustyClawError):
    """The language model failed to answer."""


class LLMUnavailableError(LLMError):
    """Connection refused, timed out, or stalled; retryable."""


class LLMRateLimitedError(LLMError):
    """The server answered 429; retryable after backoff (`retry_after` seconds when it said)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMServerError(LLMError):
    """The server answered 5xx or cut the stream; retryable."""


class LLMRequestError(LLMError):
    """The server refused the request (4xx other than 429); not retryable."""


class ContextOverflowError(LLMRequestError):
    """The prompt did not fit the model's context window (`reported` tokens when the server said)."""

    def __init__(self, message: str, reported: int | None = None, window: int | None = None) -> None:
        super().__init__(message)
        self.reported = reported
        self.window = window


class MemoryIndexError(RustyClawError):
    """The memory search index cannot be read or updated."""


class ChannelError(RustyClawError):
    """A chat platform failed to deliver or receive."""


class DeliveryError(ChannelError):
    """A send the platform did not take. `transient` (network, 5xx, 429) is worth retrying, after
    `retry_after` seconds when the platform said so; otherwise (blocked, chat gone) it never will be."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class AccessDeniedError(RustyClawError):
    """The sender may not be served (policy, pairing, rate limit)."""


class InvalidInputError(RustyClawError):
    """A message or request was malformed or too large; the message says what and where."""


class MediaError(InvalidInputError):
    """An attachment could not be fetched or used; the text is for the user."""


class AudioError(MediaError):
    """A voice note could not be used (empty, corrupt, too long, unsupported); the text is for the user."""


class ToolError(RustyClawError):
    """A tool failed or was refused; the text goes back to the model as the tool result."""


class PolicyDeniedError(ToolError):
    """The tool policy denied the call; it was never executed."""


class TurnCancelledError(RustyClawError):
    """The turn was stopped by /stop or by the client going away."""


class BusyError(RustyClawError):
    """A session's turn lock could not be taken in time."""


class SandboxError(RustyClawError):
    """The code sandbox refused or failed a command (bad spec, missing image, engine error)."""


class SandboxUnavailableError(SandboxError):
    """No container engine answers; the message names the URL and how to start one."""

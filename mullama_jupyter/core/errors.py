"""The one error hierarchy of mullama-jupyter.

Core code raises these; each adapter converts them at its own edge (an HTTP status plus the
family's JSON envelope, ``UsageError`` in magics, one line and a non-zero exit in the CLI).

    MullamaError
    ├── InvalidRequest ........ 400  the caller sent something we cannot use
    │   ├── InvalidName ....... 400  a model name that breaks the name grammar
    │   ├── InvalidDigest ..... 400  a digest that is not sha256:<64 hex>
    │   ├── InvalidOption ..... 400  an option of the wrong type or out of range
    │   ├── InvalidGGUF ....... 400  a file that is not a well-formed GGUF
    │   └── ContextLengthExceeded 400  the prompt does not fit the context window
    ├── NotFound .............. 404
    │   └── ModelNotFound ..... 404  no such model in the store
    ├── Cancelled ............. 499  the client went away or pressed stop
    ├── ServerBusy ............ 503  the model's queue is full
    ├── InsufficientStorage ... 507  not enough disk or memory for the job
    ├── RunnerError ........... 500  the runner process failed
    │   ├── RunnerCrashed ..... 500  it died while working
    │   └── LoadFailed ........ 500  it could not load the model
    ├── TemplateError ......... 500  the chat template failed to render
    ├── PullError ............. 500  a pull could not complete
    └── Unreachable ........... 503  (client side) no server answers at the URL

``message`` is the text the wire carries (Ollama's exact wording where one exists); ``hint`` is the
next step for a person (printed by the CLI and magics, never sent to Ollama clients, which compare
error texts).
"""

from __future__ import annotations


class MullamaError(Exception):
    """Base of every error the project raises on purpose."""

    status = 500  # HTTP status an adapter should use

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """One line for people: the message, then the next step when there is one."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidRequest(MullamaError):
    status = 400


class InvalidName(InvalidRequest):
    def __init__(self, name: str, message: str = "invalid model name", **kw):
        super().__init__(message, **kw)
        self.name = name


class InvalidDigest(InvalidRequest):
    def __init__(self, digest: str, **kw):
        super().__init__("invalid digest format", **kw)
        self.digest = digest


class InvalidOption(InvalidRequest):
    def __init__(self, option: str, message: str, **kw):
        super().__init__(message, **kw)
        self.option = option


class InvalidGGUF(InvalidRequest):
    def __init__(self, reason: str, **kw):
        super().__init__(f"invalid GGUF: {reason}", **kw)
        self.reason = reason


class ContextLengthExceeded(InvalidRequest):
    def __init__(self, n_tokens: int, n_ctx: int, **kw):
        kw.setdefault("hint", "shorten the input or raise num_ctx")
        super().__init__(
            f"the input length exceeds the context length: {n_tokens} tokens requested, "
            f"context window is {n_ctx}",
            **kw,
        )
        self.n_tokens = n_tokens
        self.n_ctx = n_ctx


class NotFound(MullamaError):
    status = 404


class ModelNotFound(NotFound):
    """A model that is not in the store. ``message`` follows Ollama's text exactly."""

    def __init__(self, name: str, message: str | None = None, **kw):
        kw.setdefault("hint", f"pull it first: mullama pull {name}" if name else None)
        super().__init__(message or f"model '{name}' not found", **kw)
        self.name = name


class Cancelled(MullamaError):
    status = 499

    def __init__(self, message: str = "request canceled", **kw):
        super().__init__(message, **kw)


class ServerBusy(MullamaError):
    status = 503

    def __init__(self, message: str = "server busy, please try again.  maximum pending requests exceeded", **kw):
        super().__init__(message, **kw)


class InsufficientStorage(MullamaError):
    status = 507


class RunnerError(MullamaError):
    status = 500


class RunnerCrashed(RunnerError):
    def __init__(self, message: str = "model runner terminated unexpectedly", **kw):
        kw.setdefault("hint", "the next request reloads the model")
        super().__init__(message, **kw)


class LoadFailed(RunnerError):
    pass


class TemplateError(MullamaError):
    status = 500

    def __init__(self, reason: str, **kw):
        super().__init__(f"template error: {reason}", **kw)


class PullError(MullamaError):
    status = 500


class Unreachable(MullamaError):
    status = 503

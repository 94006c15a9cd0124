"""Built-in pipeline stages, registered through the same seam as extensions."""

from intake.stages import confirm, dedupe, email, filing, media, open311, sms, understand  # noqa: F401

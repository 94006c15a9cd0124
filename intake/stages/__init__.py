"""Built-in pipeline stages, registered through the same seam as extensions."""

from intake.stages import confirm, email, filing, media, sms, understand  # noqa: F401

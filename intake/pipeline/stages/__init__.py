"""Built-in pipeline stages, registered through the same seam as extensions."""

from intake.pipeline.stages import (  # noqa: F401
    ask_location,
    confirm,
    dedupe,
    email,
    filing,
    media,
    open311,
    route,
    sms,
    staff,
    understand,
)

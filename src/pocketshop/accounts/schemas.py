from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from pocketshop.web import contract


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, so a client cannot slip in extra data.
    Numbers and booleans are strict (WholeNumber, StrictBool): as the schema states them, 0
    is not false and "5" is not 5. (A strict model would also refuse enum values as FastAPI
    passes them.)"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _as_the_schema_says(cls, data: Any) -> Any:
        # JSON Schema's integer is a number without a fraction, 233.0 as well as 233: taken as
        # the schema says (no request field is a float); 233.5 stays refused. NUL is dropped
        # from strings: text is cleaned of controls anyway, and an id with a NUL is no id
        # (PostgreSQL refuses NUL in text: a 500).
        if isinstance(data, dict):
            return {key: _plain(value) for key, value in data.items()}
        return data


def _plain(value: object) -> object:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


WholeNumber = StrictInt


class SendCodeIn(StrictModel):
    phone: str = contract.phone(examples=["13800138000"])


class SendCodeOut(BaseModel):
    phone: str
    expires_in: int = Field(description="seconds the code stays valid")
    resend_after: int = Field(description="seconds before another code can be sent")


class LoginIn(StrictModel):
    phone: str = contract.phone()
    code: str = Field(max_length=16, examples=["123456"])


class UserOut(BaseModel):
    id: str
    phone: str | None = Field(description="none for someone signed in with WeChat, until bound")


class WxConfigOut(BaseModel):
    """What a page inside WeChat passes to `wx.config` (WeChat JS-SDK) for its share cards."""

    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    jsApiList: list[str]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 -- the OAuth token type, not a secret
    expires_at: datetime
    user: UserOut

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, so a client cannot slip in extra data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SendCodeIn(StrictModel):
    phone: str = Field(max_length=32, examples=["13800138000"])


class SendCodeOut(BaseModel):
    phone: str
    expires_in: int = Field(description="seconds the code stays valid")
    resend_after: int = Field(description="seconds before another code can be sent")


class LoginIn(StrictModel):
    phone: str = Field(max_length=32)
    code: str = Field(max_length=16, examples=["123456"])


class UserOut(BaseModel):
    id: str
    phone: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 -- the OAuth token type, not a secret
    expires_at: datetime
    user: UserOut

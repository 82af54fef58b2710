from fastapi import Request, Response, status

from pocketshop.accounts import service
from pocketshop.accounts.deps import ApiUser, bearer_token
from pocketshop.accounts.models import User
from pocketshop.accounts.schemas import LoginIn, SendCodeIn, SendCodeOut, TokenOut, UserOut
from pocketshop.accounts.service import SessionKind
from pocketshop.web.routing import AppSettings, Session, api_router, client_ip

router = api_router(prefix="/api/v1", tags=["accounts"])


def user_out(user: User) -> UserOut:
    return UserOut(id=user.public_id, phone=user.phone)


@router.post("/auth/sms-codes", status_code=status.HTTP_202_ACCEPTED)
async def send_code(
    body: SendCodeIn, request: Request, session: Session, settings: AppSettings
) -> SendCodeOut:
    """Send a 6-digit login code by SMS (valid 5 minutes, resend after 60 s)."""
    sent = await service.send_login_code(session, settings, phone=body.phone, ip=client_ip(request))
    return SendCodeOut(phone=sent.phone, expires_in=sent.expires_in, resend_after=sent.resend_after)


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED)
async def log_in(body: LoginIn, session: Session, settings: AppSettings) -> TokenOut:
    """Exchange phone + code for a bearer token; creates the account on first login."""
    user = await service.verify_login_code(session, settings, phone=body.phone, code=body.code)
    token, auth = await service.start_session(session, settings, user, SessionKind.api)
    return TokenOut(access_token=token, expires_at=auth.expires_at, user=user_out(user))


@router.delete("/auth/tokens/current", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(request: Request, user: ApiUser, session: Session) -> Response:
    token = bearer_token(request)
    assert token is not None  # ApiUser already required it
    await service.end_session(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
async def me(user: ApiUser) -> UserOut:
    return user_out(user)

"""Attachment bytes we stored (email), or a redirect to provider-hosted media."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.api.deps import Attachments, Db, require_token
from app.api.openapi import Responses, problems
from app.api.problems import NotFound
from app.desk import timeline

router = APIRouter(
    prefix="/v1/attachments",
    tags=["attachments"],
    dependencies=[Depends(require_token)],
)


_SERVED: Responses = {
    200: {
        "description": "The stored bytes, with the Content-Type they arrived with",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    307: {
        "description": "Provider-hosted media",
        "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
    },
}


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses=_SERVED | problems(401, 404, 422, 503),
)
async def get_attachment(
    attachment_id: uuid.UUID, db: Db, store: Attachments
) -> Response:
    found = await timeline.attachment(db, attachment_id)
    if found is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    if found.sha256 is not None:
        return FileResponse(
            store.path(found.sha256),
            media_type=found.content_type or "application/octet-stream",
            filename=found.filename,
        )
    if found.url is not None:
        return RedirectResponse(found.url, status_code=307)
    raise NotFound(
        f"attachment {attachment_id} is provider media "
        f"{found.provider_media_id} and was not downloaded",
        provider_media_id=found.provider_media_id,
    )

"""The runtime's models: DTDL documents kept in the store, parsed together, validators cached."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from twinkit.core._log import EventLog
from twinkit.errors import ConflictError, NotFoundError, ValidationError
from twinkit.model import ModelSet, ModelValidator, compile_validator
from twinkit.model.dtdl import ParsingError, parse

__all__ = ["ModelRegistry"]

logger = logging.getLogger(__name__)


class ModelRegistry:
    """Uploaded DTDL documents by interface id, the ModelSet they make, and validators."""

    __slots__ = ("_documents", "_validators", "models")

    def __init__(self, documents: dict[str, dict[str, Any]], models: ModelSet) -> None:
        self._documents = documents
        self.models = models
        self._validators: dict[str, ModelValidator] = {}

    @classmethod
    async def load(cls, log: EventLog) -> ModelRegistry:
        documents = {str(doc["@id"]): doc for doc in await log.models()}
        models = parse(list(documents.values())) if documents else ModelSet()
        return cls(documents, models)

    def validator(self, model_id: str) -> ModelValidator:
        """The compiled validator of a model (NotFoundError for an unknown model)."""
        validator = self._validators.get(model_id)
        if validator is None:
            if model_id not in self.models:
                raise NotFoundError(
                    f"model {model_id!r} not found: upload its DTDL first", where=model_id
                )
            validator = self._validators[model_id] = compile_validator(self.models, model_id)
        return validator

    def kind(self, model_id: str, name: str) -> str | None:
        """What content ``name`` is in the model (None for an unknown model or name)."""
        if model_id not in self.models:
            return None
        return self.validator(model_id).kind(name)

    def document(self, model_id: str) -> dict[str, Any]:
        document = self._documents.get(model_id)
        if document is None:
            raise NotFoundError(f"model {model_id!r} not found", where=model_id)
        return document

    def documents(self) -> list[dict[str, Any]]:
        return list(self._documents.values())

    async def add(
        self, log: EventLog, documents: Sequence[Mapping[str, Any]], now: float
    ) -> list[str]:
        """Parse ``documents`` with the kept ones; keep them; return their interface ids."""
        fresh: dict[str, dict[str, Any]] = {}
        for index, document in enumerate(documents):
            model_id = document.get("@id") if isinstance(document, Mapping) else None
            if not isinstance(model_id, str):
                raise ValidationError(
                    "a model document must be a DTDL Interface object with an @id",
                    path=f"[{index}]",
                    expected='{"@id": "dtmi:...", "@type": "Interface", ...}',
                    got=document,
                )
            known = self._documents.get(model_id, fresh.get(model_id))
            if known is not None and known != document:
                raise ConflictError(
                    f"model {model_id} already exists with different content: DTDL models "
                    "are immutable, upload a new version (…;2) instead",
                    where=model_id,
                )
            fresh[model_id] = dict(document)
        merged = {**self._documents, **fresh}
        models = parse(list(merged.values()))
        await log.save_models(list(fresh.values()), now)
        self._documents, self.models = merged, models
        self._validators.clear()
        logger.info("models added: %s", ", ".join(fresh))
        return list(fresh)

    async def delete(self, log: EventLog, model_id: str) -> None:
        """Forget a model; ConflictError when another kept model refers to it."""
        self.document(model_id)
        rest = {key: doc for key, doc in self._documents.items() if key != model_id}
        try:
            models = parse(list(rest.values())) if rest else ModelSet()
        except ParsingError as err:
            users = sorted({issue.element for issue in err.errors if issue.ref == model_id})
            raise ConflictError(
                f"model {model_id} is used by other models ({', '.join(users) or 'see log'}): "
                "delete them first",
                where=model_id,
            ) from err
        await log.delete_model(model_id)
        self._documents, self.models = rest, models
        self._validators.clear()

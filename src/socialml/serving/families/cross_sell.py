"""Cross-sell: the products to offer a bank client next, ranked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from socialml.serving.loading import LoadContext, ServiceOptions
from socialml.serving.schemas import Id, IdText, integer_ids, typed_id


class Product(BaseModel):
    product_id: str
    rank: int
    score: float


class CrossSellResponse(BaseModel):
    client_id: Id
    known_client: bool = Field(description="false: the client is not in the training data; the products are the "
                                           "most held ones")
    products: list[Product]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "client_id": 500001, "known_client": True,
        "products": [{"product_id": "credit_card", "rank": 1, "score": 0.41},
                     {"product_id": "savings_account", "rank": 2, "score": 0.22}]}]})


@dataclass
class CrossSellModels:
    model: Any  # a cross-sell recommender: recommend(clients, k), data.user_ids
    integer_ids: bool

    def recommend(self, client_id: int | str, limit: int) -> tuple[bool, list[dict]]:
        known = client_id in self.model.data.user_ids
        ranked = self.model.recommend([client_id], k=limit)
        return known, [{"product_id": str(p), "rank": int(r), "score": float(s)}
                       for p, r, s in zip(ranked["product_id"], ranked["rank"], ranked["score"])]


def load(context: LoadContext) -> CrossSellModels:
    model = context.model("cross_sell")
    return CrossSellModels(model, integer_ids(model.data.user_ids))


def router(current: Callable[[], CrossSellModels], options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["cross_sell"])

    # ":path": an id with a slash ("BR/0042", sent as BR%2F0042) is a client too, not a missing route
    @routes.get("/cross-sell/{client_id:path}", response_model=CrossSellResponse,
                summary="Products to offer a client; an unknown client gets the most held ones")
    def cross_sell(client_id: IdText, limit: Annotated[int, Query(ge=1, le=100)] = 5) -> CrossSellResponse:
        """Products the client does not hold yet, ranked by the champion of socialml-cross-sell."""
        family = current()
        typed = typed_id(client_id, family.integer_ids, "cross_sell", ["path", "client_id"])
        known, products = family.recommend(typed, limit)
        return CrossSellResponse(client_id=typed, known_client=known, products=products)

    return routes

"""The product catalog (an organization's own rows, and shared rows of no organization that every
organization reads, crm.0037), costs and media files (shared by every organization)."""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models.functions import Now

from crm.fields import UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel

SHARED = models.Q(organization__isnull=True)


def _unique(table: str, *fields: str) -> list[models.UniqueConstraint]:
    """`fields` unique among an organization's rows, and once among the shared rows."""
    suffix = "_".join(fields)
    return [
        models.UniqueConstraint(fields=["organization", *fields],
                                name=f"{table}_org_{suffix}_uniq"),
        models.UniqueConstraint(fields=list(fields), condition=SHARED,
                                name=f"{table}_shared_{suffix}_uniq"),
    ]


class Category(TenantModel):
    """A product category: the organization's own, or shared (no organization) and read by all."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=120)
    slug = models.CharField(max_length=140, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    image_url = models.CharField(max_length=500, null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    shared_rows: ClassVar[bool] = True

    class Meta:
        db_table = "categories"
        ordering = ["name"]
        verbose_name_plural = "categories"
        # An organization may have its own category of a shared name; each unique in its scope.
        constraints = [*_unique("categories", "name"), *_unique("categories", "slug")]

    def __str__(self) -> str:
        return self.name


class SubCategory(TenantModel):
    """A product sub-category, of its category's organization (or shared, like its category)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="sub_categories")
    name = models.CharField(max_length=120)
    slug = models.CharField(max_length=140, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    shared_rows: ClassVar[bool] = True
    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("category"),)

    class Meta:
        db_table = "sub_categories"
        ordering = ["name"]
        verbose_name_plural = "sub-categories"
        constraints = _unique("sub_categories", "slug")

    def __str__(self) -> str:
        return self.name


class Product(TenantModel):
    """A product: the organization's own, or shared (no organization) and read by all."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=255)
    sku = models.CharField(max_length=100, null=True, blank=True)
    price = models.FloatField()
    description = models.TextField(null=True, blank=True)
    image_url = models.CharField(max_length=500, null=True, blank=True)
    stock = models.IntegerField(default=0)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products",
        db_index=False,
    )
    sub_category = models.ForeignKey(
        SubCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="products",
        db_index=False,
    )

    shared_rows: ClassVar[bool] = True

    class Meta:
        db_table = "products"
        ordering = ["name"]
        constraints = _unique("products", "sku")
        indexes = [models.Index(fields=["organization", "name"], name="products_org_name_idx")]

    def __str__(self) -> str:
        return self.name


class Cost(models.Model):
    """The price of one kind of campaign message, keyed by its type. Shared table."""

    type = models.CharField(max_length=50, primary_key=True)
    price = models.FloatField()

    class Meta:
        db_table = "costs"
        ordering = ["type"]

    def __str__(self) -> str:
        return self.type


class File(models.Model):
    """A media file uploaded to Meta, keyed by Meta's media id. Shared table."""

    id = VarCharField(primary_key=True)
    name = VarCharField()
    mimetype = VarCharField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True, db_default=Now())

    class Meta:
        db_table = "files"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

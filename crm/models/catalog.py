"""The product catalog and media files, shared by every organization."""
from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Now

from crm.fields import UTCDateTimeField, VarCharField


class Category(models.Model):
    """A product category. Shared table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=120, unique=True)
    slug = models.CharField(max_length=140, unique=True, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    image_url = models.CharField(max_length=500, null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "categories"
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class SubCategory(models.Model):
    """A product sub-category. Shared table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="sub_categories")
    name = models.CharField(max_length=120)
    slug = models.CharField(max_length=140, unique=True, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sub_categories"
        ordering = ["name"]
        verbose_name_plural = "sub-categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product in the shared catalog."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=255)
    sku = models.CharField(max_length=100, unique=True, null=True, blank=True)
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

    class Meta:
        db_table = "products"
        ordering = ["name"]

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

"""Routes of the segments page, included at /contacts/segments/."""
from django.urls import path

from crm.segments import pages

app_name = "segments"

urlpatterns = [
    path("", pages.index, name="index"),
    path("count/", pages.count, name="count"),
    path("<uuid:segment_id>/", pages.index, name="edit"),
    path("<uuid:segment_id>/delete/", pages.delete, name="delete"),
    path("<uuid:segment_id>/members/", pages.members, name="members"),
]

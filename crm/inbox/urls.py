"""Routes of the inbox, included at /inbox/."""
from django.urls import path

from crm.inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("list/", views.conversation_list, name="list"),
    path("events/", views.stream, name="events"),
    path("<uuid:customer_id>/", views.index, name="conversation"),
    path("<uuid:customer_id>/thread/", views.thread, name="thread"),
    path("<uuid:customer_id>/read/", views.mark_read, name="read"),
    path("<uuid:customer_id>/assign/", views.assign, name="assign"),
    path("<uuid:customer_id>/automation/", views.pause_automation, name="pause-automation"),
    path("<uuid:customer_id>/reply/", views.reply, name="reply"),
    path("<uuid:customer_id>/labels/", views.labels, name="labels"),
    path("<uuid:customer_id>/attributes/", views.attributes, name="attributes"),
    path("<uuid:customer_id>/notes/", views.note, name="notes"),
    path("<uuid:customer_id>/status/", views.status, name="status"),
    path("<uuid:customer_id>/composer/", views.composer, name="composer"),
    path("<uuid:customer_id>/template-fields/", views.template_fields, name="template-fields"),
    path("<uuid:customer_id>/orders/", views.create_order, name="create-order"),
    path("<uuid:customer_id>/orders/<uuid:order_id>/payment-link/", views.payment_link,
         name="payment-link"),
]

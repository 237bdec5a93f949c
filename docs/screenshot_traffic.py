"""A week of Oliva Clinics' traffic on top of seed_demo, so the screenshots' dashboard has days to
chart: new customers (some from a click-to-WhatsApp ad), their messages and the agents' replies
minutes later, two still waiting, one opted out of marketing; and what the campaign builder
offers (a template Meta approved with parameters, a segment). Run by docs/screenshots.py inside
`manage.py shell`; the database's triggers keep the report roll-ups as the rows are written.
"""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm.models import (
    Customer,
    CustomerLabel,
    Label,
    Message,
    Organization,
    ReferrerTracking,
    Segment,
    Template,
    User,
)
from tenancy.context import tenant_context, unscoped

NAMES = ("Aarav Mehta", "Diya Nair", "Kabir Singh", "Ananya Reddy", "Vihaan Joshi",
         "Isha Kapoor", "Arjun Pillai", "Meera Iyer", "Rohan Das", "Sara Khan", "Nikhil Rao",
         "Tara Menon", "Dev Malhotra", "Zoya Ali")
BUSINESS = "914040001001"  # seed_demo's Oliva number, digits only
QUESTIONS = ("Hi, what does laser hair removal cost?", "Do you have a slot on Saturday?",
             "Is the Banjara Hills clinic open today?", "Can I pay by UPI?")
ANSWERS = ("Hello! A session starts at 2,499. Shall I book a free consultation?",
           "Yes, Saturday 11 am and 4 pm are free. Which suits you?",
           "We are open until 8 pm today.", "Yes, we send a secure UPI payment link.")
OFFER = [
    {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
    {"type": "BODY", "text": "Our monsoon offer: {{1}} sessions are {{2}} this week. "
                             "Reply to book your {{3}} slot."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
]


def seed() -> None:
    """Customers, messages and replies over the last seven days; the template and a segment."""
    with unscoped():  # the demo organization and its staff are looked up by their codes
        org = Organization.objects.get(code="oliva")
        agents = list(User.objects.filter(username__in=("oliva_agent", "oliva_admin"))
                      .order_by("username"))
    now = timezone.now()
    with tenant_context(org):
        labels = list(Label.objects.filter(name__in=("VIP", "Follow up")).order_by("name"))
        Template.objects.get_or_create(template_name="monsoon_offer", language="en", defaults={
            "status": "APPROVED", "category": "MARKETING", "created_at": now, "template_vars": [],
            "template_body": {"language": "en", "components": OFFER}})
        Segment.objects.get_or_create(name="VIP and follow-up", defaults={
            "filters": {"labels": ["VIP", "Follow up"], "opted_out": False}})
        messages = []
        for i, name in enumerate(NAMES):
            day = now - timedelta(days=i % 7, hours=3 + i % 5)
            wa_id = f"91982000{i:04d}"
            customer, _ = Customer.objects.get_or_create(wa_id=wa_id, defaults={
                "name": name, "phone_1": wa_id, "created_at": day, "user": agents[i % 2],
                "business_number": BUSINESS,
                "attributes": {"preferred_time": ("Morning", "Evening")[i % 2]},
                # one stopped marketing: the campaign skips her
                "marketing_opt_out_at": day if i == len(NAMES) - 1 else None})
            CustomerLabel.objects.get_or_create(customer=customer, label=labels[i % 2])
            if i % 3 == 0:
                ReferrerTracking.objects.get_or_create(customer=customer, defaults={
                    "wa_id": wa_id, "created_at": day, "source_type": "ad",
                    "source_id": "120210000000001", "headline": "Laser hair removal: 30% off"})
            waiting = i in (0, 1)  # written an hour ago, not answered yet
            asked = now - timedelta(hours=1, minutes=7 * i) if waiting else day
            messages.append(Message(
                message_id=f"wamid.shot.{wa_id}.in", customer=customer, type="text",
                body=QUESTIONS[i % 4], from_wa_id=wa_id, to_wa_id=BUSINESS,
                sender_type="customer", timestamp=asked))
            if not waiting:
                messages.append(Message(
                    message_id=f"wamid.shot.{wa_id}.out", customer=customer, type="text",
                    body=ANSWERS[i % 4], from_wa_id=BUSINESS, to_wa_id=wa_id,
                    sender_type="agent", agent_id=str(agents[i % 2].pk), delivery_status="read",
                    timestamp=asked + timedelta(minutes=2 + (i * 7) % 40)))
            Customer.objects.filter(pk=customer.pk).update(
                last_message_at=messages[-1].timestamp, last_inbound_at=asked)
        Message.objects.bulk_create(messages, ignore_conflicts=True)


if __name__ == "__main__":
    seed()

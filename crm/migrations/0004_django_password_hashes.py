"""Make wb-crm's passlib bcrypt hashes ($2b$...) readable by Django's BCryptPasswordHasher.

Django names the algorithm before the hash: `bcrypt$` + the unchanged passlib hash. Users keep
their passwords; on their next sign-in Django re-hashes with its preferred hasher.
"""
from django.db import migrations

# users is a small table (staff accounts, not customers): one set-based statement is enough.
FORWARDS = "UPDATE users SET password = 'bcrypt$' || password WHERE password LIKE '$2_$%'"
BACKWARDS = (
    "UPDATE users SET password = substr(password, 8) WHERE password LIKE 'bcrypt$$2_$%'"
)


class Migration(migrations.Migration):
    dependencies = [("crm", "0003_tenant_uniques")]

    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]

"""Contacts in and out: importing a CSV or XLSX file of customers, and streamed exports."""

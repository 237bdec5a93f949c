"""Operations: /healthz, /readyz and Prometheus metrics at /metrics."""

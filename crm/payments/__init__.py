"""Orders and payments: order services and state machine; payment gateways as sub-packages."""

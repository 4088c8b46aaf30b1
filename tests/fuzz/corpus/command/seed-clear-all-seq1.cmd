{"version":1,"action":"clear","components":[],"targets":["all"],"seq":1,"expires":4102444800,"issued":1767225600}
signature: ed25519 dcc1b17da36d37ad sRGDiPzTy3wKbhFmSt3NIIRzTirlyybk0wsf0EIKZxzOtgj+9RR0+hIVhlcwFOb4lKqgYJRVEDWl5yj5UNqpCw==

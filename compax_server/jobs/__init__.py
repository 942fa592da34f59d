"""Work carried out later or elsewhere: written to ``jobs`` in the transaction that causes it
(``queue.enqueue``), then carried out by a worker with retries: ``worker`` over ``runner`` in
a server process or on SQLite, procrastinate through ``relay`` in ``compax worker`` on
Postgres."""

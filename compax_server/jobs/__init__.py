"""Work carried out later or elsewhere: written to ``jobs`` in the transaction that causes it
(``queue.enqueue``), then carried out by a worker with retries (``runner``)."""

-- One row per message id: a redelivered event is recorded once.
CREATE TABLE notifications (
    message_id TEXT PRIMARY KEY,
    order_id UUID NOT NULL,
    user_id UUID NOT NULL,
    kind TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_order ON notifications (order_id);

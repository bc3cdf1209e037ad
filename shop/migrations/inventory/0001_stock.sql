-- `available` can be reserved; `reserved` is held by reservations. Neither is ever negative: the
-- reserve statement is conditional, and these checks would refuse it otherwise.
CREATE TABLE stock (
    product_id UUID PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One row per reservation, so a retried reserve or release is applied once.
CREATE TABLE reservations (
    id UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES stock (product_id),
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

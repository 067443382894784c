-- A task's amount means something only with its currency: `1500` is ¥1,500
-- or $15.00. Tasks now keep the currency they were entered in, and `bill`
-- never invoices work entered in another currency than the one it bills in
-- (a changed STRIPE_DEFAULT_CURRENCY would otherwise charge 100× or 1/100).
-- Tasks from before this have none: they are read, as before, in the
-- configured currency.
ALTER TABLE task ADD COLUMN currency TEXT;

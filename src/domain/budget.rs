//! Privacy budgets in exact integer micro-units.

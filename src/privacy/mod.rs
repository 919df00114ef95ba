//! Exact discrete noise, sensitivity, suppression and accuracy.

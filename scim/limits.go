package scim

// maxFilterDepth bounds the nesting of filters (parentheses, not, value paths).
const maxFilterDepth = 16

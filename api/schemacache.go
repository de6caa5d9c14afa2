package api

import (
	"slices"
	"sync"

	"github.com/scimbridge/scimbridge/scim"
	"github.com/scimbridge/scimbridge/tenants"
)

// maxCachedSchemaSets bounds schemaSetCache; past it the cache starts over.
const maxCachedSchemaSets = 4096

// schemaSetCache remembers each tenant's built scim.SchemaSet, so that a
// request does not rebuild it (building one parses every attribute path of
// the custom extension: a quarter of a GET's CPU before this cache). An
// entry is used only while the tenant's custom schema is exactly the one it
// was built from; a changed schema rebuilds it. Each router (api.New) owns
// one. Safe for concurrent use.
type schemaSetCache struct {
	mu      sync.RWMutex
	entries map[string]schemaSetEntry // tenant id -> entry
}

// schemaSetEntry is a built set and (a copy of) the schema it came from.
type schemaSetEntry struct {
	schema tenants.CustomSchema
	set    *scim.SchemaSet
}

func newSchemaSetCache() *schemaSetCache {
	return &schemaSetCache{entries: make(map[string]schemaSetEntry)}
}

// get returns the schema set of tenant id whose custom schema is schema
// (nil: the default set), building and caching it on a miss. A schema that
// does not build is not cached: its error comes back on every call.
func (c *schemaSetCache) get(id string, schema *tenants.CustomSchema) (*scim.SchemaSet, error) {
	if schema == nil {
		return scim.DefaultSchemaSet(), nil
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && sameCustomSchema(&e.schema, schema) {
		return e.set, nil
	}
	set, err := schema.SchemaSet()
	if err != nil {
		return nil, err
	}
	e = schemaSetEntry{schema: *schema, set: set}
	e.schema.Attributes = slices.Clone(schema.Attributes)
	c.mu.Lock()
	if len(c.entries) >= maxCachedSchemaSets {
		clear(c.entries)
	}
	c.entries[id] = e
	c.mu.Unlock()
	return set, nil
}

// sameCustomSchema reports whether a and b declare the same extension.
func sameCustomSchema(a, b *tenants.CustomSchema) bool {
	return a.URN == b.URN && a.Name == b.Name && a.Description == b.Description &&
		slices.Equal(a.Attributes, b.Attributes)
}

package tenants

import (
	"fmt"

	"github.com/scimbridge/scimbridge/adapters"
)

// PreviewUser parses a SCIM user as the tenant's front door would (with
// its schema) and returns what its store mapping makes of it
// (adapters.PreviewUser). Nothing is written. A bad body is a *scim.Error.
func (t *Tenant) PreviewUser(body []byte) (*adapters.Preview, error) {
	ss, err := t.Schema.SchemaSet()
	if err != nil {
		return nil, fmt.Errorf("tenants: preview: tenant schema: %w", err)
	}
	attrs, password, err := ss.ParseUser(body)
	if err != nil {
		return nil, err
	}
	p, err := adapters.PreviewUser(t.Store, attrs, password != nil)
	if err != nil {
		return nil, err
	}
	p.Tenant = t.ID
	return p, nil
}

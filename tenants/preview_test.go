package tenants

import (
	"errors"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

func TestTenantPreviewUser(t *testing.T) {
	ten := &Tenant{ID: "acme", Store: adapters.Config{Kind: "sqlite", Users: adapters.UserMapping{
		Table: "users", Key: "id", Attributes: map[string]string{"userName": "username"}}}}
	p, err := ten.PreviewUser([]byte(`{"userName":"jane@example.com","nickName":"JD"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.Fields["username"] != "jane@example.com" || len(p.Unmapped) != 1 {
		t.Fatalf("preview: %+v", p)
	}
	var se *scim.Error
	if _, err := ten.PreviewUser([]byte(`{"name":{}}`)); !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("a user without userName: %v", err)
	}
}

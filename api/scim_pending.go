package api

// TEMPORARY: stand-ins for scim.ParseListParams, scim.Project and the
// discovery documents until package scim provides them; then these
// delegate to scim and this file goes away.

import (
	"strconv"
	"strings"

	"github.com/scimbridge/scimbridge/scim"
)

func parseListParams(startIndex, count string, maxCount int) (int, int, error) {
	start := 1
	if startIndex != "" {
		n, err := strconv.Atoi(startIndex)
		if err != nil {
			return 0, 0, scim.BadRequest(scim.ScimTypeInvalidValue, "startIndex %q is not an integer", startIndex)
		}
		if n > 1 {
			start = n
		}
	}
	n := maxCount
	if count != "" {
		c, err := strconv.Atoi(count)
		if err != nil {
			return 0, 0, scim.BadRequest(scim.ScimTypeInvalidValue, "count %q is not an integer", count)
		}
		n = min(max(c, 0), maxCount)
	}
	return start, n, nil
}

func projectResource(rendered map[string]any, attributes, excluded []string) map[string]any {
	always := map[string]bool{"id": true, "schemas": true, "meta": true}
	out := make(map[string]any, len(rendered))
	if len(attributes) > 0 {
		for k, v := range rendered {
			if always[k] {
				out[k] = v
				continue
			}
			for _, a := range attributes {
				top, _, _ := strings.Cut(a, ".")
				if strings.EqualFold(top, k) {
					out[k] = v
				}
			}
		}
		return out
	}
	for k, v := range rendered {
		drop := false
		for _, a := range excluded {
			if strings.EqualFold(a, k) && !always[k] {
				drop = true
			}
		}
		if !drop {
			out[k] = v
		}
	}
	return out
}

func (s *server) spConfig(baseURL string) map[string]any {
	return map[string]any{
		"schemas":          []string{scim.SchemaSPConfig},
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.cfg.MaxPageSize},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"maxPayloadSize":   s.cfg.MaxBodyBytes,
		"meta":             map[string]any{"resourceType": "ServiceProviderConfig", "location": baseURL + "/ServiceProviderConfig"},
		"documentationUri": "",
	}
}

func resourceTypeDocs(baseURL string) []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{scim.SchemaResourceType}, "id": "User", "name": "User", "endpoint": "/Users",
			"schema":           scim.SchemaUser,
			"schemaExtensions": []map[string]any{{"schema": scim.SchemaEnterpriseUser, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{scim.SchemaResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"schema": scim.SchemaGroup,
			"meta":   map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/Group"},
		},
	}
}

func schemaDocs() []map[string]any {
	return []map[string]any{
		{"schemas": []string{scim.SchemaSchema}, "id": scim.SchemaUser, "name": "User"},
		{"schemas": []string{scim.SchemaSchema}, "id": scim.SchemaGroup, "name": "Group"},
		{"schemas": []string{scim.SchemaSchema}, "id": scim.SchemaEnterpriseUser, "name": "EnterpriseUser"},
	}
}

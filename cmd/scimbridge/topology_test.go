package main

// The end-to-end suites on Redis topologies the test starts itself: a
// three-primary Redis Cluster (every ledger script's keys in one slot, or
// the cluster answers CROSSSLOT; queue work on every primary) and a
// primary with a replica behind a Sentinel.

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// TestE2EOnRedisCluster runs the end-to-end flows (Okta's spec test, an
// Okta user's lifecycle in a table, Okta's lifecycle and Push Groups on
// LDAP and MariaDB, Entra with groups, the admin API: key revocation,
// import, drift, replay) against a real three-primary cluster.
func TestE2EOnRedisCluster(t *testing.T) {
	cluster := testsupport.StartRedisCluster(t, 3)
	topo := cluster.Topology()
	for _, tc := range []struct {
		name string
		run  func(*testing.T, testsupport.RedisTopology)
	}{
		{"OktaSpec", testOktaSpecAgainstPostgresTenant},
		{"OktaLifecycle", testOktaLifecycleInPostgresTable},
		{"OktaPushGroups", testTwoStoreKindsInOneServer},
		{"EntraGroups", testEntraProvisioningInPostgresTables},
		{"AdminAPI", testAdminAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo.Flush(t)
			tc.run(t, topo)
		})
	}
}

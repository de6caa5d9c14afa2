// Package ldaptest runs a throwaway OpenLDAP slapd for tests: Start
// writes a slapd.conf and a schema into a temporary directory, starts
// slapd on a free 127.0.0.1 port, waits until it answers, and Stop kills
// it and removes the directory. New does the same for one test, skipping
// it on a developer machine without slapd and failing it when CI is set.
//
// The directory has the suffix BaseDN ("dc=example,dc=com") with RootDN
// as its root, the core, cosine, inetorgperson and nis schemas plus the
// test schema fixture.schema (fixtureMail, fixtureActive, fixturePlan and
// the Active Directory attribute types the AD dialect uses), the ppolicy
// overlay with a default lockout policy when the module is installed, the
// unique overlay (fixtureMail unique within each TenantOU) and the
// constraint overlay (departmentNumber refuses
// conformance.RejectedDepartment). StartTLS works with the self-signed
// certificate in CAFile.
//
// Tests share one server by working in their own OU (TenantOU).
package ldaptest

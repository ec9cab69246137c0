package admin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestOfficialAdminClient runs Keycloak's official admin client from npm
// (@keycloak/keycloak-admin-client, pinned in e2e/keycloak-admin-client's
// lockfile) against a running Latchkey. It needs node and the package's
// node_modules (`npm ci` there): it skips without them locally and fails
// under CI=true, where .ci/run installs them.
func TestOfficialAdminClient(t *testing.T) {
	dir, err := filepath.Abs("../../e2e/keycloak-admin-client")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "@keycloak", "keycloak-admin-client")); err != nil || statErr != nil {
		msg := "node or e2e/keycloak-admin-client/node_modules missing (run npm ci there)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := testkit.New(t, adminRealms, testkit.Options{PlainHTTP: true})
	cmd := exec.Command(node, "admin.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE="+env.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keycloak-admin-client against Latchkey: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

package cniconf

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const conflistV1 = `{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"type":"dpcni","agentSocket":"/run/dpcni/dpcni.sock"}]}`
const conflistV2 = `{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"type":"dpcni","agentSocket":"/run/dpcni/other.sock"},{"type":"portmap","capabilities":{"portMappings":true}}]}`

func newInstaller(t *testing.T, content string) Installer {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "source.conflist")
	if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return Installer{Source: src, Dir: filepath.Join(dir, "net.d"), Name: "10-dpcni.conflist"}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// onlyFile fails unless the directory holds exactly the installed conflist: no temporary file left.
func onlyFile(t *testing.T, i Installer) {
	t.Helper()
	entries, err := os.ReadDir(i.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != i.Name {
		t.Fatalf("%s holds %v, want only %s", i.Dir, names, i.Name)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func TestInstallWritesTheSourceReadableByAll(t *testing.T) {
	i := newInstaller(t, conflistV1)
	changed, err := i.Install()
	if err != nil || !changed {
		t.Fatalf("Install() = %v, %v; want true, nil", changed, err)
	}
	if got := readFile(t, i.Path()); got != conflistV1 {
		t.Fatalf("installed %q, want %q", got, conflistV1)
	}
	info, err := os.Stat(i.Path())
	if err != nil {
		t.Fatal(err)
	}
	// The source is 0600 (a ConfigMap mount can be anything); the runtime's directory wants 0644.
	if info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", info.Mode().Perm())
	}
	onlyFile(t, i)
}

func TestInstallLeavesAnEqualFileAlone(t *testing.T) {
	i := newInstaller(t, conflistV1)
	if _, err := i.Install(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(i.Path())
	if err != nil {
		t.Fatal(err)
	}
	ino := inode(t, i.Path())
	for n := 0; n < 3; n++ {
		changed, err := i.Install()
		if err != nil || changed {
			t.Fatalf("Install() again = %v, %v; want false, nil", changed, err)
		}
	}
	after, err := os.Stat(i.Path())
	if err != nil {
		t.Fatal(err)
	}
	if inode(t, i.Path()) != ino || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("an equal conflist was rewritten")
	}
}

func TestInstallReplacesAtomically(t *testing.T) {
	i := newInstaller(t, conflistV1)
	if _, err := i.Install(); err != nil {
		t.Fatal(err)
	}
	// A reader that opened the old file (the runtime loading it) keeps reading the old content whole:
	// the new content arrives as a different inode renamed over the name, never written into the
	// file in place.
	reader, err := os.Open(i.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	oldIno := inode(t, i.Path())

	if err := os.WriteFile(i.Source, []byte(conflistV2), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := i.Install()
	if err != nil || !changed {
		t.Fatalf("Install() after the source changed = %v, %v; want true, nil", changed, err)
	}
	old, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(old) != conflistV1 {
		t.Fatalf("the open file now reads %q, want the old content", old)
	}
	if got := readFile(t, i.Path()); got != conflistV2 {
		t.Fatalf("installed %q, want %q", got, conflistV2)
	}
	if inode(t, i.Path()) == oldIno {
		t.Fatal("the conflist was rewritten in place")
	}
	onlyFile(t, i)
}

func TestInstallPutsBackARemovedOrEditedConflist(t *testing.T) {
	i := newInstaller(t, conflistV1)
	if _, err := i.Install(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(i.Path(), []byte(`{"edited":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := i.Install(); err != nil || !changed || readFile(t, i.Path()) != conflistV1 {
		t.Fatalf("edited conflist not restored: %v, %v", changed, err)
	}
	if err := os.Remove(i.Path()); err != nil {
		t.Fatal(err)
	}
	if changed, err := i.Install(); err != nil || !changed || readFile(t, i.Path()) != conflistV1 {
		t.Fatalf("removed conflist not restored: %v, %v", changed, err)
	}
}

func TestInstallFailureLeavesNoTemporaryFile(t *testing.T) {
	i := newInstaller(t, conflistV1)
	// A non-empty directory where the conflist goes: the rename fails.
	if err := os.MkdirAll(filepath.Join(i.Path(), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := i.Install()
	if err == nil || !strings.Contains(err.Error(), i.Path()) {
		t.Fatalf("Install() over a directory: %v; want an error naming %s", err, i.Path())
	}
	onlyFile(t, i)
}

func TestInstallRefusesABrokenSourceAndKeepsTheInstalledOne(t *testing.T) {
	i := newInstaller(t, conflistV1)
	if _, err := i.Install(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"not json", `{"cniVersion":`, "not a JSON conflist"},
		{"no version", `{"name":"dpcni","plugins":[{"type":"dpcni"}]}`, "cniVersion"},
		{"no name", `{"cniVersion":"1.0.0","plugins":[{"type":"dpcni"}]}`, `"name"`},
		{"no plugins", `{"cniVersion":"1.0.0","name":"dpcni"}`, "plugins"},
		{"single plugin conf", `{"cniVersion":"1.0.0","name":"dpcni","type":"dpcni"}`, "plugins"},
		{"plugin without type", `{"cniVersion":"1.0.0","name":"dpcni","plugins":[{"agentSocket":"x"}]}`, `plugins[0] has no "type"`},
		{"empty", ``, "not a JSON conflist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(i.Source, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			changed, err := i.Install()
			if err == nil || changed || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ConfigMap") {
				t.Fatalf("Install() = %v, %v; want an error with %q naming the ConfigMap", changed, err, tc.want)
			}
			if got := readFile(t, i.Path()); got != conflistV1 {
				t.Fatalf("the installed conflist changed to %q", got)
			}
		})
	}
}

func TestInstallNamesTheMissingSource(t *testing.T) {
	i := newInstaller(t, conflistV1)
	os.Remove(i.Source)
	_, err := i.Install()
	if err == nil || !strings.Contains(err.Error(), "--cni-conf-source") {
		t.Fatalf("Install() without a source: %v; want an error naming --cni-conf-source", err)
	}
	if _, err := os.Stat(i.Path()); !os.IsNotExist(err) {
		t.Fatalf("a conflist appeared without a source: %v", err)
	}
}

func TestRemove(t *testing.T) {
	i := newInstaller(t, conflistV1)
	if removed, err := i.Remove(); err != nil || removed {
		t.Fatalf("Remove() with nothing installed = %v, %v; want false, nil", removed, err)
	}
	if _, err := i.Install(); err != nil {
		t.Fatal(err)
	}
	if removed, err := i.Remove(); err != nil || !removed {
		t.Fatalf("Remove() = %v, %v; want true, nil", removed, err)
	}
	if _, err := os.Stat(i.Path()); !os.IsNotExist(err) {
		t.Fatalf("conflist still there: %v", err)
	}

	bin := t.TempDir()
	plugin := filepath.Join(bin, PluginBinary)
	if err := os.WriteFile(plugin, []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	if removed, err := RemovePlugin(bin); err != nil || !removed {
		t.Fatalf("RemovePlugin() = %v, %v; want true, nil", removed, err)
	}
	if _, err := os.Stat(plugin); !os.IsNotExist(err) {
		t.Fatalf("plugin still there: %v", err)
	}
}

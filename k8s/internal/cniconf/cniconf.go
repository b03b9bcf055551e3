// Package cniconf installs and removes the node's CNI network configuration (the conflist kubelet's
// container runtime reads from /etc/cni/net.d).
//
// The conflist is the node's readiness switch: the runtime reports NetworkReady=false, and kubelet
// keeps the Node NotReady, until a usable network configuration exists in that directory. Installing
// it only once the agent serves is what keeps pods off a node whose dataplane is not there yet.
package cniconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PluginBinary is the CNI plugin's file name in the CNI bin directory (the conflist's "type").
const PluginBinary = "dpcni"

// Installer copies Source to Dir/Name.
type Installer struct {
	Source string // the conflist to install (mounted from a ConfigMap)
	Dir    string // the runtime's CNI configuration directory, e.g. /etc/cni/net.d
	Name   string // e.g. 10-dpcni.conflist
}

// Path is where the conflist is installed.
func (i Installer) Path() string { return filepath.Join(i.Dir, i.Name) }

// Install writes the source conflist to Path when the installed content differs (or is missing),
// and reports whether it wrote. The source is read on every call, so a changed ConfigMap reaches the
// node, and a conflist someone removed or edited is put back.
func (i Installer) Install() (bool, error) {
	want, err := os.ReadFile(i.Source)
	if err != nil {
		return false, fmt.Errorf("reading the CNI conflist source (--cni-conf-source, mounted from the chart's ConfigMap): %w", err)
	}
	if err := Validate(want); err != nil {
		return false, fmt.Errorf("not installing %s: %w; fix the ConfigMap", i.Source, err)
	}
	have, err := os.ReadFile(i.Path())
	switch {
	case err == nil && bytes.Equal(have, want):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("reading the installed CNI conflist: %w", err)
	}
	if err := writeAtomic(i.Dir, i.Name, want); err != nil {
		return false, err
	}
	return true, nil
}

// Remove deletes the installed conflist and reports whether there was one.
func (i Installer) Remove() (bool, error) {
	return removeFile(i.Path())
}

// RemovePlugin deletes the plugin binary from binDir and reports whether there was one.
func RemovePlugin(binDir string) (bool, error) {
	return removeFile(filepath.Join(binDir, PluginBinary))
}

func removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Validate checks the shape the runtime needs of a conflist: a JSON object with cniVersion, name and
// at least one plugin with a type. Installing anything less would make the runtime report the
// network as not ready with a parse error, which is harder to trace back to the ConfigMap.
func Validate(data []byte) error {
	var conf struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return fmt.Errorf("not a JSON conflist: %w", err)
	}
	if conf.CNIVersion == "" {
		return errors.New(`the conflist has no "cniVersion"`)
	}
	if conf.Name == "" {
		return errors.New(`the conflist has no "name"`)
	}
	if len(conf.Plugins) == 0 {
		return errors.New(`the conflist has no "plugins"`)
	}
	for n, plugin := range conf.Plugins {
		if t, _ := plugin["type"].(string); t == "" {
			return fmt.Errorf(`plugins[%d] has no "type"`, n)
		}
	}
	return nil
}

// writeAtomic replaces dir/name with data so that a reader sees the old file or the new one, never
// a part: the runtime watches the directory and loads the lexically first configuration it finds,
// and would take a half-written file as a broken network. The temporary file ends in ".tmp", an
// extension libcni does not load.
func writeAtomic(dir, name string, data []byte) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the CNI configuration directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("creating a temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	// The data must be on disk before the rename is: otherwise a crash can leave the new name
	// pointing at an empty file.
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	target := filepath.Join(dir, name)
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp.Name(), target, err)
	}
	// The rename itself is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to fsync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

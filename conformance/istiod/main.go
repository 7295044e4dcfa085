// Command istiod-harness runs istiod's own configuration generation (the istio.io/istio module)
// on a scenario and serves the result over ADS to a real Envoy.
//
// It is the source of truth for what stickyctl's fixtures say istiod generates: no istiod logic
// lives here. The discovery server is the in-memory one Istio's own tests use
// (pilot/test/xds.NewFakeDiscoveryServer), listening on a real TCP port so that an unmodified
// Envoy connects to it as it would to istiod. istiod reads its feature flags and label keys from
// the environment when its packages initialise (pilot/pkg/features), so one process serves one
// scenario, started with that scenario's istiod env (scripts/record_istiod.py does that). With
// PILOT_ENABLE_AMBIENT=true in that env the fake server builds istiod's ambient index itself.
//
// Usage:
//
//	istiod-harness -scenario DIR
//
// stdout carries one JSON line per event, for the recorder:
//
//	{"event":"listening","xds":"127.0.0.1:PORT","sds":"127.0.0.1:PORT","istio":{...}}
//	{"event":"connected","node":"router~..."}                      (Envoy opened its ADS stream)
//	{"event":"written","dir":"OUT","resources":{"listeners":N,...}}  (after a "write OUT" command)
//
// stdin takes commands, one per line: "write DIR" writes, for the connected proxy, the listeners,
// clusters, routes and endpoints istiod generates (the same generator that serves ADS) as JSON
// into DIR; end of input stops the harness. Any failure is one line on stderr and exit status 1
// (2 for an invalid scenario).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/serviceregistry/util/xdsfake"
	"istio.io/istio/pilot/pkg/xds"
	fakexds "istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/env"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// emit writes one event line for the recorder.
func emit(event map[string]any) {
	b, err := json.Marshal(event)
	if err != nil {
		fatal(1, "encoding event: %v", err)
	}
	fmt.Println(string(b))
}

func fatal(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "istiod-harness: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	scenarioDir := flag.String("scenario", "", "scenario directory (cluster.yaml, proxy.yaml)")
	listen := flag.String("listen", "127.0.0.1:0", "address of the ADS server")
	sdsAddr := flag.String("sds", "127.0.0.1:0", "address of the throwaway SDS server")
	scenarioEnv := flag.String("scenario-env", "", "comma-separated names of the istiod settings the scenario sets (checked against what istiod reads)")
	debugAddr := flag.String("debug", "", "also serve istiod's debug endpoints (/debug/configz, /debug/config_dump?proxyID=…) on this address")
	sdsOnly := flag.Bool("sds-only", false, "serve only the throwaway SDS server (on -sds) until stdin closes: for Envoys fed istiod's clusters from files (benchmarks/gen_dump.py)")
	flag.Parse()
	if *sdsOnly {
		serveSDSOnly(*sdsAddr)
		return
	}
	if *scenarioDir == "" {
		fatal(2, "-scenario DIR is required")
	}
	sc, err := loadScenario(*scenarioDir)
	if err != nil {
		fatal(2, "%v", err)
	}
	quietIstioLogs()
	sc.warnings = append(sc.warnings, unknownSettings(*scenarioEnv)...)

	// test.Wrap gives istiod's test helpers a test.Failer outside `go test`: a t.Fatal inside
	// istiod's fake server becomes an error here instead of a panic.
	var runErr error
	err = test.Wrap(func(t test.Failer) {
		runErr = serve(t, sc, *listen, *sdsAddr, *debugAddr)
	})
	if err == nil {
		err = runErr
	}
	if err != nil {
		fatal(1, "%v", err)
	}
}

func serveSDSOnly(addr string) {
	sds, err := startSDS(addr)
	if err != nil {
		fatal(1, "%v", err)
	}
	emit(map[string]any{"event": "listening", "sds": sds.Addr()})
	_, _ = io.Copy(io.Discard, os.Stdin)
	sds.Stop()
}

// quietIstioLogs keeps istiod's informational logging off stdout (which carries events) and
// leaves warnings and errors on stderr, where a NACK ("ADS:LDS: ACK ERROR") shows.
func quietIstioLogs() {
	o := log.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	o.SetDefaultOutputLevel("all", log.WarnLevel)
	if err := log.Configure(o); err != nil {
		fatal(1, "configuring istiod's logging: %v", err)
	}
}

func serve(t test.Failer, sc *scenario, listen, sdsAddr, debugAddr string) error {
	adsListener, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening for ADS on %s: %v", listen, err)
	}
	kubeObjects := sc.kubeObjects
	if features.EnableAmbient && sc.istioObjects != "" {
		// With PILOT_ENABLE_AMBIENT the fake server builds istiod's ambient index
		// (pilot/test/xds/fake.go NewFakeDiscoveryServer: ambient.New when features.EnableAmbient),
		// which reads ServiceEntries, WorkloadEntries and policies through Kubernetes informers, not
		// the config store: on a cluster both read the same API server, so the Istio objects go to
		// the fake kube client too, as istiod's own waypoint tests give them
		// (pilot/pkg/xds/waypoint_test.go setupWaypointTest: "Ambient controller needs objects as
		// kube, so apply to both").
		kubeObjects = strings.Join([]string{kubeObjects, sc.istioObjects}, "\n---\n")
	}
	s := fakexds.NewFakeDiscoveryServer(t, fakexds.FakeOptions{
		KubernetesObjectString: kubeObjects,
		Configs:                sc.istioConfigs,
		ListenerBuilder:        func() (net.Listener, error) { return adsListener, nil },
		EnableFakeXDSUpdater:   true,
	})
	if err := createEndpointSlices(t, s, sc.endpointSlices); err != nil {
		return err
	}
	if debugAddr != "" {
		dl, err := net.Listen("tcp", debugAddr)
		if err != nil {
			return fmt.Errorf("listening for the debug endpoints on %s: %v", debugAddr, err)
		}
		go func() { _ = http.Serve(dl, s.DiscoveryDebug) }()
		defer dl.Close()
	}
	sds, err := startSDS(sdsAddr)
	if err != nil {
		return err
	}
	defer sds.Stop()

	emit(map[string]any{
		"event":    "listening",
		"xds":      adsListener.Addr().String(),
		"sds":      sds.Addr(),
		"istio":    istioInfo(),
		"proxy":    sc.proxy,
		"warnings": sc.warnings,
	})

	connected := make(chan *xds.Connection, 1)
	go func() {
		for {
			for _, c := range s.Discovery.AllClients() {
				if c.Proxy() != nil {
					connected <- c
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	lines := make(chan string)
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			lines <- in.Text()
		}
		close(lines)
	}()

	var conn *xds.Connection
	for {
		select {
		case c := <-connected:
			conn = c
			emit(map[string]any{"event": "connected", "node": c.Proxy().ID, "type": string(c.Proxy().Type)})
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch cmd {
			case "write":
				if conn == nil {
					return errors.New("write: no Envoy has connected yet")
				}
				counts, err := writeResources(s, conn.Proxy(), arg)
				if err != nil {
					return err
				}
				emit(map[string]any{"event": "written", "dir": arg, "resources": counts})
			case "":
			default:
				return fmt.Errorf("unknown command %q", cmd)
			}
		}
	}
}

// createEndpointSlices adds the scenario's EndpointSlices once istiod knows the Services, one at
// a time, each waited for until istiod's endpoint index has taken it: as on a cluster, where the
// endpoint-slice controller writes a Service's slices after the Service exists. Given all at once,
// istiod's informers race, and a slice read before its Service gets no draining support
// (serviceregistry/kube/controller/endpointslice.go endpointHealthStatus: svc == nil), which made
// recordings differ from run to run.
func createEndpointSlices(t test.Failer, s *fakexds.FakeDiscoveryServer, docs []string) error {
	updates, ok := s.XdsUpdater.(*xdsfake.Updater)
	if !ok {
		return errors.New("the fake XDS updater is not enabled")
	}
	decode := kubelib.IstioCodec.UniversalDeserializer().Decode
	for _, doc := range docs {
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			return fmt.Errorf("cluster.yaml: %v", err)
		}
		slice, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return fmt.Errorf("cluster.yaml: %T is not a discovery.k8s.io/v1 EndpointSlice", obj)
		}
		if slice.Namespace == "" {
			slice.Namespace = "default"
		}
		host := fmt.Sprintf("%s.%s.svc.cluster.local", slice.Labels["kubernetes.io/service-name"], slice.Namespace)
		for len(updates.Events) > 0 {
			<-updates.Events
		}
		if _, err := s.KubeClient().Kube().DiscoveryV1().EndpointSlices(slice.Namespace).Create(
			context.Background(), slice, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("cluster.yaml: EndpointSlice %s/%s: %v", slice.Namespace, slice.Name, err)
		}
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case ev := <-updates.Events:
				if (ev.Type == "eds" || ev.Type == "eds cache") && ev.ID == host {
					break wait
				}
			case <-deadline:
				return fmt.Errorf("istiod did not take EndpointSlice %s/%s (for %s) within 10s", slice.Namespace, slice.Name, host)
			}
		}
	}
	s.EnsureSynced(t)
	return nil
}

// unknownSettings names the scenario's istiod settings that no istiod package registered (see
// istio.io/istio/pkg/env): a misspelt PILOT_PERSISTENT_SESSION_HEADER_LABLE is silently ignored by
// istiod, so the recorder says so.
func unknownSettings(names string) []string {
	known := map[string]bool{}
	for _, v := range env.VarDescriptions() {
		known[v.Name] = true
	}
	var out []string
	for _, name := range strings.Split(names, ",") {
		if name != "" && !known[name] {
			out = append(out, fmt.Sprintf("istiod.yaml: env.%s: istiod does not read this setting (misspelt?)", name))
		}
	}
	return out
}

// istioInfo names the istiod code that runs: the istio.io/istio module version this binary was
// built with, and the settings istiod read from the environment.
func istioInfo() map[string]any {
	info := map[string]any{
		"module":  "istio.io/istio",
		"version": "(unknown)",
		"settings": map[string]any{
			"PILOT_ENABLE_PERSISTENT_SESSION_FILTER": features.EnablePersistentSessionFilter.Load(),
			"PILOT_ENABLE_AMBIENT":                   features.EnableAmbient,
			"PILOT_PERSISTENT_SESSION_LABEL":         features.PersistentSessionLabel,
			"PILOT_PERSISTENT_SESSION_HEADER_LABEL":  features.PersistentSessionHeaderLabel,
		},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "istio.io/istio" {
				info["version"] = dep.Version
				info["sum"] = dep.Sum
			}
		}
	}
	return info
}

// writeResources writes what istiod generates for the connected proxy, with the same
// ConfigGenerator that answers its ADS requests, before Envoy or anyone else touched it.
func writeResources(s *fakexds.FakeDiscoveryServer, proxy *model.Proxy, dir string) (map[string]int, error) {
	if dir == "" {
		return nil, errors.New("write: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write: %v", err)
	}
	listeners := s.Listeners(proxy)
	clusters := s.Clusters(proxy)
	routes := s.RoutesFromListeners(proxy, listeners)
	endpoints := s.Endpoints(proxy)
	kinds := []struct {
		name  string
		items []proto.Message
	}{
		{"listeners", asMessages(listeners)},
		{"clusters", asMessages(clusters)},
		{"routes", asMessages(routes)},
		{"endpoints", asMessages(endpoints)},
	}
	counts := map[string]int{}
	for _, k := range kinds {
		if err := writeList(filepath.Join(dir, k.name+".json"), k.items); err != nil {
			return nil, err
		}
		counts[k.name] = len(k.items)
	}
	return counts, nil
}

func asMessages[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, 0, len(items))
	for _, i := range items {
		out = append(out, i)
	}
	return out
}

// writeList writes a JSON array of the resources in Envoy's own JSON form (proto field names, as
// the admin config_dump prints them), sorted by name so that recordings compare.
func writeList(path string, items []proto.Message) error {
	type named struct {
		name string
		raw  json.RawMessage
	}
	opts := protojson.MarshalOptions{UseProtoNames: true}
	out := make([]named, 0, len(items))
	for _, m := range items {
		b, err := opts.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding %T: %v", m, err)
		}
		var probe struct {
			Name        string `json:"name"`
			ClusterName string `json:"cluster_name"`
		}
		_ = json.Unmarshal(b, &probe)
		out = append(out, named{name: probe.Name + probe.ClusterName, raw: b})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	raws := make([]json.RawMessage, 0, len(out))
	for _, n := range out {
		raws = append(raws, n.raw)
	}
	b, err := json.MarshalIndent(raws, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

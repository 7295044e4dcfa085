package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	kubelib "istio.io/istio/pkg/kube"
	"sigs.k8s.io/yaml"
)

// scenario is one SCENARIO_DIR of the recorder's contract (docs/fidelity.md): cluster.yaml split
// the way istiod's fake discovery server takes it, and the proxy it generates for.
type scenario struct {
	kubeObjects    string          // Kubernetes and Gateway API objects: the fake kube client's informers
	endpointSlices []string        // created once istiod has the Services (see createEndpointSlices)
	istioConfigs   []config.Config // Istio CRs (*.istio.io): the config store
	istioObjects   string          // the same Istio CRs as YAML, for the fake kube client when ambient is on (see serve)
	proxy          proxySpec
	warnings       []string // what was skipped, for the recorder to print
}

type proxySpec struct {
	Type         string            `json:"type"`
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	IP           string            `json:"ip"`
	Labels       map[string]string `json:"labels"`
	IstioVersion string            `json:"istioVersion"`
	// Metadata adds to the node metadata pilot-agent sends (e.g. UNPRIVILEGED_POD: "true", which the
	// legacy istio-ingress chart sets and which makes istiod skip gateway ports below 1024).
	Metadata map[string]string `json:"metadata,omitempty"`
}

type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Status struct {
		PodIP string `json:"podIP"`
	} `json:"status"`
}

// document is one YAML document of cluster.yaml and the line it starts on.
type document struct {
	text string
	line int
}

// splitDocuments splits multi-document YAML at "---" lines (and "..." end markers), keeping each
// document's first line so that errors name the line of the file, not of the document.
func splitDocuments(raw []byte) []document {
	var docs []document
	var cur []string
	start := 1
	flush := func(next int) {
		if strings.TrimSpace(strings.Join(cur, "\n")) != "" {
			docs = append(docs, document{text: strings.Join(cur, "\n"), line: start})
		}
		cur, start = nil, next
	}
	lines := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
	for i, l := range lines {
		if l == "---" || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "---\t") || l == "..." {
			flush(i + 2)
			continue
		}
		cur = append(cur, l)
	}
	flush(0)
	return docs
}

var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// yamlError names the file's line for a YAML error inside document d (the YAML library counts
// lines from the document's start), or the document's own line when the error names none.
func yamlError(path string, d document, where string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Errorf("%s: line %d: %s", path, d.line+n-1, err.Error()[len(m[0]):])
	}
	return fmt.Errorf("%s: %v", where, err)
}

// clusterScoped are the kinds without a namespace; every other object without one gets
// "default", as kubectl apply gives it.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true, "MutatingWebhookConfiguration": true,
	"ValidatingWebhookConfiguration": true, "PriorityClass": true, "IngressClass": true, "RuntimeClass": true,
	"GatewayClass": true, "APIService": true, "CSIDriver": true, "VolumeAttachment": true,
}

func loadScenario(dir string) (*scenario, error) {
	clusterPath := filepath.Join(dir, "cluster.yaml")
	raw, err := os.ReadFile(clusterPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", clusterPath, pathError(err))
	}
	var kube, istio, slices, warnings []string
	pods := map[string]object{}
	seen := map[string]int{}
	var add func(doc []byte, d document, where string) error
	add = func(doc []byte, d document, where string) error {
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return yamlError(clusterPath, d, where, err)
		}
		if o.APIVersion == "" && o.Kind == "" && o.Metadata.Name == "" {
			return nil // a document holding only comments
		}
		if o.Kind == "List" && o.APIVersion == "v1" {
			// kubectl get ... -o yaml of several objects
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := yaml.Unmarshal(doc, &list); err != nil {
				return yamlError(clusterPath, d, where, err)
			}
			for i, item := range list.Items {
				if err := add(item, d, fmt.Sprintf("%s: items[%d]", where, i)); err != nil {
					return err
				}
			}
			return nil
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			return fmt.Errorf("%s: apiVersion, kind and metadata.name are required", where)
		}
		what := fmt.Sprintf("%s (%s %s)", where, o.Kind, o.Metadata.Name)
		if o.Metadata.Namespace == "" && !clusterScoped[o.Kind] {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return fmt.Errorf("%s: %v", what, err)
			}
			m["metadata"].(map[string]any)["namespace"] = "default"
			if doc, err = yaml.Marshal(m); err != nil {
				return fmt.Errorf("%s: %v", what, err)
			}
			o.Metadata.Namespace = "default"
		}
		group, _, _ := strings.Cut(o.APIVersion, "/")
		if !strings.Contains(o.APIVersion, "/") {
			group = ""
		}
		key := group + "/" + o.Kind + "/" + o.Metadata.Namespace + "/" + o.Metadata.Name
		if first, dup := seen[key]; dup {
			return fmt.Errorf("%s: %s %s/%s is already defined at line %d", where, o.Kind, o.Metadata.Namespace, o.Metadata.Name, first)
		}
		seen[key] = d.line
		text := strings.TrimSpace(string(doc))
		switch {
		case strings.HasSuffix(group, "istio.io"):
			if _, _, err := crd.ParseInputs(text); err != nil {
				return fmt.Errorf("%s: %v", what, err)
			}
			istio = append(istio, text)
		case o.Kind == "EndpointSlice" && group == "discovery.k8s.io":
			slices = append(slices, text)
		default:
			// Decoded here as istiod's fake kube client will (IstioCodec), to name the document.
			// A kind istiod has no type for (an Argo Rollout, a cert-manager Certificate) is one
			// it never reads from a cluster either: skipped, with a warning.
			if _, _, err := kubelib.IstioCodec.UniversalDeserializer().Decode([]byte(text), nil, nil); err != nil {
				if runtime.IsNotRegisteredError(err) {
					warnings = append(warnings, fmt.Sprintf("%s: skipped: istiod does not read %s %s", what, o.APIVersion, o.Kind))
					return nil
				}
				return fmt.Errorf("%s: %v", what, err)
			}
			kube = append(kube, text)
		}
		if o.Kind == "Pod" && o.APIVersion == "v1" {
			pods[o.Metadata.Namespace+"/"+o.Metadata.Name] = o
		}
		return nil
	}
	docs := splitDocuments(raw)
	for _, d := range docs {
		if err := add([]byte(d.text), d, fmt.Sprintf("%s: line %d", clusterPath, d.line)); err != nil {
			return nil, err
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%s: holds no objects", clusterPath)
	}
	proxyPath := filepath.Join(dir, "proxy.yaml")
	praw, err := os.ReadFile(proxyPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", proxyPath, pathError(err))
	}
	var p proxySpec
	if err := yaml.UnmarshalStrict(praw, &p); err != nil {
		return nil, fmt.Errorf("%s: %v", proxyPath, err)
	}
	switch p.Type {
	case "router", "sidecar":
	case "":
		return nil, fmt.Errorf("%s: type is required (router or sidecar)", proxyPath)
	default:
		return nil, fmt.Errorf("%s: unknown proxy type %q (router or sidecar)", proxyPath, p.Type)
	}
	if p.Namespace == "" || p.Name == "" {
		return nil, fmt.Errorf("%s: namespace and name are required", proxyPath)
	}
	pod, ok := pods[p.Namespace+"/"+p.Name]
	if !ok {
		return nil, fmt.Errorf("%s: no Pod %s/%s in cluster.yaml (the proxy must be one of its Pods)", proxyPath, p.Namespace, p.Name)
	}
	switch {
	case p.IP == "" && pod.Status.PodIP == "":
		return nil, fmt.Errorf("%s: ip is required (or status.podIP on Pod %s/%s)", proxyPath, p.Namespace, p.Name)
	case p.IP == "":
		p.IP = pod.Status.PodIP
	case pod.Status.PodIP != "" && pod.Status.PodIP != p.IP:
		return nil, fmt.Errorf("%s: ip %s differs from Pod %s/%s status.podIP %s", proxyPath, p.IP, p.Namespace, p.Name, pod.Status.PodIP)
	}
	if p.Labels == nil {
		// pilot-agent sends the pod's labels (node metadata LABELS); istiod selects Gateways by them.
		p.Labels = pod.Metadata.Labels
	}
	configs, err := istioConfigs(strings.Join(istio, "\n---\n"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", clusterPath, err)
	}
	return &scenario{
		kubeObjects:    strings.Join(kube, "\n---\n"),
		endpointSlices: slices,
		istioConfigs:   configs,
		istioObjects:   strings.Join(istio, "\n---\n"),
		proxy:          p,
		warnings:       warnings,
	}, nil
}

// configEpoch is the creation time given to Istio objects that carry none: istiod orders
// conflicting configs by creation time, then name, so a fixed time keeps recordings stable.
var configEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// istioConfigs reads Istio objects with istiod's own decoder and completes them as istiod's
// Kubernetes config client does when it reads them from the API server
// (pilot/pkg/config/kube/crdclient/client.go: Domain is the mesh's domain suffix, so that short
// hostnames resolve to <name>.<namespace>.svc.cluster.local); the namespace is the one kubectl
// would give an object without one.
func istioConfigs(text string) ([]config.Config, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	configs, _, err := crd.ParseInputs(text)
	if err != nil {
		return nil, err
	}
	for i := range configs {
		c := &configs[i]
		c.Domain = "cluster.local"
		if c.Namespace == "" {
			c.Namespace = "default"
		}
		if c.CreationTimestamp.IsZero() {
			c.CreationTimestamp = configEpoch
		}
	}
	return configs, nil
}

func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

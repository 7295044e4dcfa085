package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

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
	proxy          proxySpec
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

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func loadScenario(dir string) (*scenario, error) {
	clusterPath := filepath.Join(dir, "cluster.yaml")
	raw, err := os.ReadFile(clusterPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", clusterPath, pathError(err))
	}
	var kube, istio, slices []string
	pods := map[string]object{}
	reader := utilyaml.NewYAMLReader(bufioReader(raw))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", clusterPath, n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", clusterPath, n, err)
		}
		if o.APIVersion == "" && o.Kind == "" {
			continue // a document holding only comments
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: document %d: apiVersion, kind and metadata.name are required", clusterPath, n)
		}
		group, _, _ := strings.Cut(o.APIVersion, "/")
		text := strings.TrimSpace(string(doc))
		switch {
		case strings.HasSuffix(group, "istio.io") && strings.Contains(o.APIVersion, "/"):
			istio = append(istio, text)
		case o.Kind == "EndpointSlice" && group == "discovery.k8s.io":
			slices = append(slices, text)
		default:
			// Decoded here as istiod's fake kube client will (IstioCodec), to name the document.
			if _, _, err := kubelib.IstioCodec.UniversalDeserializer().Decode(doc, nil, nil); err != nil {
				return nil, fmt.Errorf("%s: document %d (%s %s): %v", clusterPath, n, o.Kind, o.Metadata.Name, err)
			}
			kube = append(kube, text)
		}
		if o.Kind == "Pod" && o.APIVersion == "v1" {
			ns := o.Metadata.Namespace
			if ns == "" {
				ns = "default"
			}
			pods[ns+"/"+o.Metadata.Name] = o
		}
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
		proxy:          p,
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

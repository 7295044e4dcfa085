package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// A throwaway SDS server standing in for pilot-agent's: istiod's auto-mTLS clusters ask the
// bootstrap cluster "sds-grpc" for the secrets "default" and "ROOTCA" with initial_fetch_timeout
// 0s (pkg/model/authentication.go), so without an answer Envoy keeps those clusters warming
// forever. It serves one self-signed certificate made at start and never written anywhere.
// stickyctl reads none of it, and the recorder drops Envoy's SecretsConfigDump.
type sdsServer struct {
	grpc  *grpc.Server
	lis   net.Listener
	cert  []byte
	key   []byte
	nonce atomic.Int64
	secretv3.UnimplementedSecretDiscoveryServiceServer
}

func startSDS(addr string) (*sdsServer, error) {
	cert, key, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("making the throwaway SDS certificate: %v", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for SDS on %s: %v", addr, err)
	}
	s := &sdsServer{grpc: grpc.NewServer(), lis: lis, cert: cert, key: key}
	secretv3.RegisterSecretDiscoveryServiceServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

func (s *sdsServer) Addr() string { return s.lis.Addr().String() }

func (s *sdsServer) Stop() { s.grpc.Stop() }

func (s *sdsServer) StreamSecrets(stream secretv3.SecretDiscoveryService_StreamSecretsServer) error {
	answered := map[string]bool{}
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		var resources []*anypb.Any
		fresh := false
		for _, name := range req.GetResourceNames() {
			if !answered[name] {
				fresh = true
			}
			answered[name] = true
			a, err := anypb.New(s.secret(name))
			if err != nil {
				return err
			}
			resources = append(resources, a)
		}
		if !fresh {
			continue // an ACK of what was sent
		}
		n := strconv.FormatInt(s.nonce.Add(1), 10)
		if err := stream.Send(&discoveryv3.DiscoveryResponse{
			VersionInfo: n, Nonce: n, TypeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
			Resources: resources,
		}); err != nil {
			return nil
		}
	}
}

func (s *sdsServer) secret(name string) *tlsv3.Secret {
	if name == "ROOTCA" {
		return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: s.cert}},
			},
		}}
	}
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: s.cert}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: s.key}},
	}}}
}

func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "stickyctl-recorder-throwaway"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

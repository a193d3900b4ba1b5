"""Generated gRPC code for proto/mpc/v1: do not edit, run scripts/gen-proto.

The modules are flat (`from parties.proto_gen import peer_pb2`) and import
each other relatively, so they never collide with the `mpc` library
package, whose name the proto package `mpc.v1` shares.
"""

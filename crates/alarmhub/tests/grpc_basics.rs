//! gRPC plumbing against the real binary: `grpc.health.v1` and server reflection (v1 and
//! v1alpha) list every service, health descriptors included.
#![allow(clippy::unwrap_used)]

mod common;

use common::Daemon;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn health_reports_serving_for_every_service() {
    let d = Daemon::start("", "");
    rt().block_on(async {
        let mut c = HealthClient::new(channel(d.grpc).await);
        for service in ["", "alarm_server.AlarmServer", "alarmhub.v1.AlarmHub"] {
            let r = c
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap();
            assert_eq!(
                r.into_inner().status,
                ServingStatus::Serving as i32,
                "{service:?}"
            );
        }
        let e = c
            .check(HealthCheckRequest {
                service: "nope.Nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
    });
}

#[test]
fn reflection_v1_and_v1alpha_list_every_service_and_serve_health_descriptors() {
    use tokio_stream::StreamExt;
    let d = Daemon::start("", "");
    rt().block_on(async {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let mut c = ServerReflectionClient::new(channel(d.grpc).await);
        let reqs = vec![
            ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) },
            ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into())) },
        ];
        let mut s = c.server_reflection_info(tokio_stream::iter(reqs)).await.unwrap().into_inner();
        let first = s.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else { panic!("{first:?}") };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for want in ["alarm_server.AlarmServer", "alarmhub.v1.AlarmHub", "grpc.health.v1.Health"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        let second = s.next().await.unwrap().unwrap();
        assert!(matches!(second.message_response, Some(MessageResponse::FileDescriptorResponse(_))), "{second:?}");

        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaReq;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResp;
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaRequest;
        let mut a = AlphaClient::new(channel(d.grpc).await);
        let req = AlphaRequest { host: String::new(), message_request: Some(AlphaReq::ListServices(String::new())) };
        let mut s = a.server_reflection_info(tokio_stream::iter(vec![req])).await.unwrap().into_inner();
        let r = s.next().await.unwrap().unwrap();
        let Some(AlphaResp::ListServicesResponse(list)) = r.message_response else { panic!("{r:?}") };
        assert!(list.service.iter().any(|s| s.name == "alarmhub.v1.AlarmHub"));
    });
}

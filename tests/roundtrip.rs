//! Encode/decode round trips of every request and response the foundation
//! uses, at the lowest and highest version the schemas know.

use kafka_sync::messages::*;

fn round_trip<T: Encodable + Decodable + PartialEq + std::fmt::Debug + Message>(v: &T, name: &str) {
    for version in [T::VERSIONS.min, T::VERSIONS.max] {
        let mut buf = bytes::BytesMut::new();
        v.encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("{name} v{version}: {e}"));
        let mut b = buf.freeze();
        let back = T::decode(&mut b, version).unwrap_or_else(|e| panic!("{name} v{version}: {e}"));
        assert_eq!(&back, v, "{name} v{version}");
        assert!(
            b.is_empty(),
            "{name} v{version}: {} bytes left over",
            b.len()
        );
    }
}

macro_rules! round_trips {
    ($($t:ty => $v:expr;)*) => {{
        $( round_trip::<$t>(&$v, stringify!($t)); )*
    }};
}

#[test]
fn every_message_of_the_foundation_round_trips() {
    let topic = TopicName("orders".into());
    round_trips! {
        ApiVersionsRequest => ApiVersionsRequest::default();
        ApiVersionsResponse => ApiVersionsResponse::default().with_api_keys(vec![
            api_versions_response::ApiVersion::default().with_api_key(3).with_min_version(0).with_max_version(12),
        ]);
        MetadataRequest => MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic.clone())),
        ]));
        MetadataResponse => MetadataResponse::default()
            .with_brokers(vec![metadata_response::MetadataResponseBroker::default().with_node_id(BrokerId(1)).with_host("h".into()).with_port(9092)])
            .with_topics(vec![metadata_response::MetadataResponseTopic::default().with_name(Some(topic.clone())).with_partitions(vec![
                metadata_response::MetadataResponsePartition::default().with_partition_index(0).with_leader_id(BrokerId(1)),
            ])]);
        ListOffsetsRequest => ListOffsetsRequest::default().with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic.clone())
            .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default().with_partition_index(2).with_timestamp(-1)])]);
        ListOffsetsResponse => ListOffsetsResponse::default().with_topics(vec![list_offsets_response::ListOffsetsTopicResponse::default()
            .with_name(topic.clone())
            .with_partitions(vec![list_offsets_response::ListOffsetsPartitionResponse::default().with_partition_index(2)])]);
        DescribeConfigsRequest => DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default().with_resource_type(2).with_resource_name("orders".into()),
        ]);
        DescribeConfigsResponse => DescribeConfigsResponse::default().with_results(vec![
            describe_configs_response::DescribeConfigsResult::default().with_resource_type(2).with_resource_name("orders".into()),
        ]);
        CreateTopicsRequest => CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default().with_name(topic.clone()).with_num_partitions(6).with_replication_factor(1),
        ]);
        CreateTopicsResponse => CreateTopicsResponse::default().with_topics(vec![
            create_topics_response::CreatableTopicResult::default().with_name(topic.clone()),
        ]);
        DeleteTopicsRequest => DeleteTopicsRequest::default().with_timeout_ms(1000);
        DeleteTopicsResponse => DeleteTopicsResponse::default();
        FindCoordinatorRequest => FindCoordinatorRequest::default();
        FindCoordinatorResponse => FindCoordinatorResponse::default();
        SaslHandshakeRequest => SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
        SaslHandshakeResponse => SaslHandshakeResponse::default().with_mechanisms(vec!["PLAIN".into()]);
        SaslAuthenticateRequest => SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(b"\0u\0p"));
        SaslAuthenticateResponse => SaslAuthenticateResponse::default().with_auth_bytes(bytes::Bytes::from_static(b"v=abc"));
        DeleteRecordsRequest => DeleteRecordsRequest::default();
        DeleteRecordsResponse => DeleteRecordsResponse::default();
        OffsetForLeaderEpochRequest => OffsetForLeaderEpochRequest::default();
        OffsetForLeaderEpochResponse => OffsetForLeaderEpochResponse::default();
        ListGroupsRequest => ListGroupsRequest::default();
        ListGroupsResponse => ListGroupsResponse::default();
        DescribeGroupsRequest => DescribeGroupsRequest::default();
        DescribeGroupsResponse => DescribeGroupsResponse::default();
        DeleteGroupsRequest => DeleteGroupsRequest::default();
        DeleteGroupsResponse => DeleteGroupsResponse::default();
        AlterConfigsRequest => AlterConfigsRequest::default();
        AlterConfigsResponse => AlterConfigsResponse::default();
        IncrementalAlterConfigsRequest => IncrementalAlterConfigsRequest::default();
        IncrementalAlterConfigsResponse => IncrementalAlterConfigsResponse::default();
        DescribeLogDirsRequest => DescribeLogDirsRequest::default();
        DescribeLogDirsResponse => DescribeLogDirsResponse::default();
        DescribeProducersRequest => DescribeProducersRequest::default();
        DescribeProducersResponse => DescribeProducersResponse::default();
        DescribeTransactionsRequest => DescribeTransactionsRequest::default();
        DescribeTransactionsResponse => DescribeTransactionsResponse::default();
        ListTransactionsRequest => ListTransactionsRequest::default();
        ListTransactionsResponse => ListTransactionsResponse::default();
    }
}

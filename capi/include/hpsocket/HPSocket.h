/*
 * shardnet's HP-Socket C++ API: HP-Socket's interfaces, listener base classes and smart
 * pointers (SocketInterface.h, HPSocket.h of HP-Socket 5.8) for the TCP components, as a
 * header-only layer over shardnet's C API (HPSocket4C.h, libhpsocket4c). Programs written for
 * HP-Socket's C++ classes compile against this header unchanged and link libhpsocket4c:
 *
 *   class CListenerImpl : public CTcpPullServerListener { ... OnReceive(pSender, id, len) {
 *       ITcpPullServer::FromS(pSender)->Fetch(id, buf, len); ... } };
 *   CListenerImpl listener;
 *   CTcpPullServerPtr server(&listener);
 *   server->Start("0.0.0.0", 5555);
 *
 * Written for shardnet; the names are HP-Socket's. Callbacks run on shard threads, as HP's on
 * its workers; Stop inside a callback returns without waiting (HP deadlocks there).
 * Not here yet: the SSL methods (SetupSSLContext, ...), the UDP and HTTP components.
 */
#ifndef SHARDNET_HPSOCKET_H
#define SHARDNET_HPSOCKET_H

#include "HPSocket4C.h"

#ifdef __cplusplus

#include <atomic>
#include <cstddef>


/* ---------------------------------------------------------------- interfaces -------------- */

class IComplexSocket
{
public:
    virtual BOOL Stop() = 0;
    virtual BOOL Send(CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendPackets(CONNID dwConnID, const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL PauseReceive(CONNID dwConnID, BOOL bPause = TRUE) = 0;
    virtual BOOL Disconnect(CONNID dwConnID, BOOL bForce = TRUE) = 0;
    virtual BOOL DisconnectLongConnections(DWORD dwPeriod, BOOL bForce = TRUE) = 0;
    virtual BOOL DisconnectSilenceConnections(DWORD dwPeriod, BOOL bForce = TRUE) = 0;
    virtual BOOL Wait(DWORD dwMilliseconds = INFINITE) = 0;

    virtual BOOL SetConnectionExtra(CONNID dwConnID, PVOID pExtra) = 0;
    virtual BOOL GetConnectionExtra(CONNID dwConnID, PVOID* ppExtra) = 0;
    virtual BOOL IsSecure() = 0;
    virtual BOOL HasStarted() = 0;
    virtual EnServiceState GetState() = 0;
    virtual DWORD GetConnectionCount() = 0;
    virtual BOOL GetAllConnectionIDs(CONNID pIDs[], DWORD& dwCount) = 0;
    virtual BOOL GetConnectPeriod(CONNID dwConnID, DWORD& dwPeriod) = 0;
    virtual BOOL GetSilencePeriod(CONNID dwConnID, DWORD& dwPeriod) = 0;
    virtual BOOL GetLocalAddress(CONNID dwConnID, TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual BOOL GetRemoteAddress(CONNID dwConnID, TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual EnSocketError GetLastError() = 0;
    virtual LPCTSTR GetLastErrorDesc() = 0;
    virtual BOOL GetPendingDataLength(CONNID dwConnID, int& iPending) = 0;
    virtual BOOL IsPauseReceive(CONNID dwConnID, BOOL& bPaused) = 0;
    virtual BOOL IsConnected(CONNID dwConnID) = 0;

    virtual void SetReuseAddressPolicy(EnReuseAddressPolicy enReusePolicy) = 0;
    virtual void SetSendPolicy(EnSendPolicy enSendPolicy) = 0;
    virtual void SetOnSendSyncPolicy(EnOnSendSyncPolicy enSyncPolicy) = 0;
    virtual void SetMaxConnectionCount(DWORD dwMaxConnectionCount) = 0;
    virtual void SetFreeSocketObjLockTime(DWORD dwFreeSocketObjLockTime) = 0;
    virtual void SetFreeSocketObjPool(DWORD dwFreeSocketObjPool) = 0;
    virtual void SetFreeBufferObjPool(DWORD dwFreeBufferObjPool) = 0;
    virtual void SetFreeSocketObjHold(DWORD dwFreeSocketObjHold) = 0;
    virtual void SetFreeBufferObjHold(DWORD dwFreeBufferObjHold) = 0;
    virtual void SetWorkerThreadCount(DWORD dwWorkerThreadCount) = 0;
    virtual void SetMarkSilence(BOOL bMarkSilence) = 0;

    virtual EnReuseAddressPolicy GetReuseAddressPolicy() = 0;
    virtual EnSendPolicy GetSendPolicy() = 0;
    virtual EnOnSendSyncPolicy GetOnSendSyncPolicy() = 0;
    virtual DWORD GetMaxConnectionCount() = 0;
    virtual DWORD GetFreeSocketObjLockTime() = 0;
    virtual DWORD GetFreeSocketObjPool() = 0;
    virtual DWORD GetFreeBufferObjPool() = 0;
    virtual DWORD GetFreeSocketObjHold() = 0;
    virtual DWORD GetFreeBufferObjHold() = 0;
    virtual DWORD GetWorkerThreadCount() = 0;
    virtual BOOL IsMarkSilence() = 0;

public:
    virtual ~IComplexSocket() = default;
};

class IServer : public IComplexSocket
{
public:
    virtual BOOL Start(LPCTSTR lpszBindAddress, USHORT usPort) = 0;
    virtual BOOL GetListenAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
};

class ITcpServer : public IServer
{
public:
    virtual BOOL SendSmallFile(CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetAcceptSocketCount(DWORD dwAcceptSocketCount) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetSocketListenQueue(DWORD dwSocketListenQueue) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetAcceptSocketCount() = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetSocketListenQueue() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
};

class IAgent : public IComplexSocket
{
public:
    virtual BOOL Start(LPCTSTR lpszBindAddress = nullptr, BOOL bAsyncConnect = TRUE) = 0;
    virtual BOOL Connect(LPCTSTR lpszRemoteAddress, USHORT usPort, CONNID* pdwConnID = nullptr, PVOID pExtra = nullptr, USHORT usLocalPort = 0, LPCTSTR lpszLocalAddress = nullptr) = 0;
    virtual BOOL GetRemoteHost(CONNID dwConnID, TCHAR lpszHost[], int& iHostLen, USHORT& usPort) = 0;
};

class ITcpAgent : public IAgent
{
public:
    virtual BOOL SendSmallFile(CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
};

class IClient
{
public:
    virtual BOOL Start(LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect = TRUE, LPCTSTR lpszBindAddress = nullptr, USHORT usLocalPort = 0) = 0;
    virtual BOOL Stop() = 0;
    virtual BOOL Send(const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendPackets(const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL PauseReceive(BOOL bPause = TRUE) = 0;
    virtual BOOL Wait(DWORD dwMilliseconds = INFINITE) = 0;
    virtual void SetExtra(PVOID pExtra) = 0;
    virtual PVOID GetExtra() = 0;
    virtual BOOL IsSecure() = 0;
    virtual BOOL HasStarted() = 0;
    virtual EnServiceState GetState() = 0;
    virtual EnSocketError GetLastError() = 0;
    virtual LPCTSTR GetLastErrorDesc() = 0;
    virtual CONNID GetConnectionID() = 0;
    virtual BOOL GetLocalAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual BOOL GetRemoteHost(TCHAR lpszHost[], int& iHostLen, USHORT& usPort) = 0;
    virtual BOOL GetPendingDataLength(int& iPending) = 0;
    virtual BOOL IsPauseReceive(BOOL& bPaused) = 0;
    virtual BOOL IsConnected() = 0;
    virtual void SetReuseAddressPolicy(EnReuseAddressPolicy enReusePolicy) = 0;
    virtual void SetFreeBufferPoolSize(DWORD dwFreeBufferPoolSize) = 0;
    virtual void SetFreeBufferPoolHold(DWORD dwFreeBufferPoolHold) = 0;
    virtual EnReuseAddressPolicy GetReuseAddressPolicy() = 0;
    virtual DWORD GetFreeBufferPoolSize() = 0;
    virtual DWORD GetFreeBufferPoolHold() = 0;
    virtual ~IClient() = default;
};

class ITcpClient : public IClient
{
public:
    virtual BOOL SendSmallFile(LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
};

class IPullClient
{
public:
    virtual EnFetchResult Fetch(BYTE* pData, int iLength) = 0;
    virtual EnFetchResult Peek(BYTE* pData, int iLength) = 0;
    virtual ~IPullClient() = default;
};

class IPackClient
{
public:
    virtual void SetMaxPackSize(DWORD dwMaxPackSize) = 0;
    virtual void SetPackHeaderFlag(USHORT usPackHeaderFlag) = 0;
    virtual DWORD GetMaxPackSize() = 0;
    virtual USHORT GetPackHeaderFlag() = 0;
    virtual ~IPackClient() = default;
};

class IPullSocket
{
public:
    virtual EnFetchResult Fetch(CONNID dwConnID, BYTE* pData, int iLength) = 0;
    virtual EnFetchResult Peek(CONNID dwConnID, BYTE* pData, int iLength) = 0;
    virtual ~IPullSocket() = default;
};

class IPackSocket
{
public:
    virtual void SetMaxPackSize(DWORD dwMaxPackSize) = 0;
    virtual void SetPackHeaderFlag(USHORT usPackHeaderFlag) = 0;
    virtual DWORD GetMaxPackSize() = 0;
    virtual USHORT GetPackHeaderFlag() = 0;
    virtual ~IPackSocket() = default;
};

/* A component with two faces (Pull or Pack beside the socket interface), and HP's casts
 * between them: `ITcpPullServer::FromS(pSender)` turns the `ITcpServer*` a callback gets into
 * the pull server. */
template <class F, class S>
class DualInterface : public F, public S
{
public:
    inline static F* ToF(DualInterface* pThis) { return static_cast<F*>(pThis); }
    inline static DualInterface* FromF(F* pF) { return static_cast<DualInterface*>(pF); }
    inline static S* ToS(DualInterface* pThis) { return static_cast<S*>(pThis); }
    inline static DualInterface* FromS(S* pS) { return static_cast<DualInterface*>(pS); }
    inline static S* F2S(F* pF) { return ToS(FromF(pF)); }
    inline static F* S2F(S* pS) { return ToF(FromS(pS)); }
    virtual ~DualInterface() = default;
};

typedef DualInterface<IPullSocket, ITcpServer> ITcpPullServer;
typedef DualInterface<IPullSocket, ITcpAgent> ITcpPullAgent;
typedef DualInterface<IPackSocket, ITcpServer> ITcpPackServer;
typedef DualInterface<IPackSocket, ITcpAgent> ITcpPackAgent;
typedef DualInterface<IPullClient, ITcpClient> ITcpPullClient;
typedef DualInterface<IPackClient, ITcpClient> ITcpPackClient;

/* UDP (HP's _UDP_SUPPORT interfaces): the servers share IServer, the clients IClient. */
class IUdpServer : public IServer
{
public:
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetPostReceiveCount(DWORD dwPostReceiveCount) = 0;
    virtual DWORD GetPostReceiveCount() = 0;
    virtual void SetDetectAttempts(DWORD dwDetectAttempts) = 0;
    virtual void SetDetectInterval(DWORD dwDetectInterval) = 0;
    virtual DWORD GetDetectAttempts() = 0;
    virtual DWORD GetDetectInterval() = 0;
};

class IUdpClient : public IClient
{
public:
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetDetectAttempts(DWORD dwDetectAttempts) = 0;
    virtual void SetDetectInterval(DWORD dwDetectInterval) = 0;
    virtual DWORD GetDetectAttempts() = 0;
    virtual DWORD GetDetectInterval() = 0;
};

/* HP's ARQ settings (KCP), shared by the ARQ server and client. */
#define SHARDNET_HP_ARQ_SETTINGS                                   \
    virtual void SetNoDelay(BOOL bNoDelay) = 0;                    \
    virtual void SetTurnoffCongestCtrl(BOOL bTurnOff) = 0;         \
    virtual void SetFlushInterval(DWORD dwFlushInterval) = 0;      \
    virtual void SetResendByAcks(DWORD dwResendByAcks) = 0;        \
    virtual void SetSendWndSize(DWORD dwSendWndSize) = 0;          \
    virtual void SetRecvWndSize(DWORD dwRecvWndSize) = 0;          \
    virtual void SetMinRto(DWORD dwMinRto) = 0;                    \
    virtual void SetFastLimit(DWORD dwFastLimit) = 0;              \
    virtual void SetMaxTransUnit(DWORD dwMaxTransUnit) = 0;        \
    virtual void SetMaxMessageSize(DWORD dwMaxMessageSize) = 0;    \
    virtual void SetHandShakeTimeout(DWORD dwHandShakeTimeout) = 0; \
    virtual BOOL IsNoDelay() = 0;                                  \
    virtual BOOL IsTurnoffCongestCtrl() = 0;                       \
    virtual DWORD GetFlushInterval() = 0;                          \
    virtual DWORD GetResendByAcks() = 0;                           \
    virtual DWORD GetSendWndSize() = 0;                            \
    virtual DWORD GetRecvWndSize() = 0;                            \
    virtual DWORD GetMinRto() = 0;                                 \
    virtual DWORD GetFastLimit() = 0;                              \
    virtual DWORD GetMaxTransUnit() = 0;                           \
    virtual DWORD GetMaxMessageSize() = 0;                         \
    virtual DWORD GetHandShakeTimeout() = 0;

class IArqSocket
{
public:
    SHARDNET_HP_ARQ_SETTINGS
    /* Messages waiting to be sent or acknowledged: on the connection's thread (callbacks). */
    virtual BOOL GetWaitingSendMessageCount(CONNID dwConnID, int& iCount) = 0;
    virtual ~IArqSocket() = default;
};

class IArqClient
{
public:
    SHARDNET_HP_ARQ_SETTINGS
    /* Messages waiting to be sent or acknowledged: on the client's thread (callbacks). */
    virtual BOOL GetWaitingSendMessageCount(int& iCount) = 0;
    virtual ~IArqClient() = default;
};
#undef SHARDNET_HP_ARQ_SETTINGS

typedef DualInterface<IArqSocket, IUdpServer> IUdpArqServer;
typedef DualInterface<IArqClient, IUdpClient> IUdpArqClient;

/* ---------------------------------------------------------------- listeners --------------- */

template <class T>
class ISocketListenerT
{
public:
    virtual EnHandleResult OnHandShake(T* pSender, CONNID dwConnID) = 0;
    virtual EnHandleResult OnSend(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnReceive(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnReceive(T* pSender, CONNID dwConnID, int iLength) = 0;
    virtual EnHandleResult OnClose(T* pSender, CONNID dwConnID, EnSocketOperation enOperation, int iErrorCode) = 0;
    virtual ~ISocketListenerT() = default;
};

template <class T>
class IComplexSocketListenerT : public ISocketListenerT<T>
{
public:
    virtual EnHandleResult OnShutdown(T* pSender) = 0;
};

template <class T>
class IServerListenerT : public IComplexSocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareListen(T* pSender, SOCKET soListen) = 0;
    virtual EnHandleResult OnAccept(T* pSender, CONNID dwConnID, UINT_PTR soClient) = 0;
};

template <class T>
class IAgentListenerT : public IComplexSocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareConnect(T* pSender, CONNID dwConnID, SOCKET socket) = 0;
    virtual EnHandleResult OnConnect(T* pSender, CONNID dwConnID) = 0;
};

/* Clients have no OnShutdown (HP's C++ API). */
template <class T>
class IClientListenerT : public ISocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareConnect(T* pSender, CONNID dwConnID, SOCKET socket) = 0;
    virtual EnHandleResult OnConnect(T* pSender, CONNID dwConnID) = 0;
};

class ITcpServerListener : public IServerListenerT<ITcpServer>
{
};

class ITcpClientListener : public IClientListenerT<ITcpClient>
{
};

class ITcpAgentListener : public IAgentListenerT<ITcpAgent>
{
};

class CTcpServerListener : public ITcpServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(ITcpServer*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnAccept(ITcpServer*, CONNID, UINT_PTR) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpServer*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpServer*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpServer*) override { return HR_IGNORE; }
    using ITcpServerListener::OnReceive;
};

class CTcpPullServerListener : public CTcpServerListener
{
public:
    virtual EnHandleResult OnReceive(ITcpServer* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class CTcpAgentListener : public ITcpAgentListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpAgent*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpAgent*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpAgent*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpAgent*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpAgent*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpAgent*) override { return HR_IGNORE; }
    using ITcpAgentListener::OnReceive;
};

class CTcpPullAgentListener : public CTcpAgentListener
{
public:
    virtual EnHandleResult OnReceive(ITcpAgent* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpAgent*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class CTcpClientListener : public ITcpClientListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpClient*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpClient*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    using ITcpClientListener::OnReceive;
};

class CTcpPullClientListener : public CTcpClientListener
{
public:
    virtual EnHandleResult OnReceive(ITcpClient* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class IUdpServerListener : public IServerListenerT<IUdpServer>
{
};

class IUdpClientListener : public IClientListenerT<IUdpClient>
{
};

/* UDP's OnAccept gets the peer's address (a `const SOCKADDR*` in its UINT_PTR). */
class CUdpServerListener : public IUdpServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(IUdpServer*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnAccept(IUdpServer*, CONNID, UINT_PTR) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(IUdpServer*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(IUdpServer*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(IUdpServer*) override { return HR_IGNORE; }
    using IUdpServerListener::OnReceive;
};

class CUdpClientListener : public IUdpClientListener
{
public:
    virtual EnHandleResult OnPrepareConnect(IUdpClient*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(IUdpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(IUdpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(IUdpClient*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    using IUdpClientListener::OnReceive;
};

/* The ARQ components take the UDP listeners (HP's). */
typedef IUdpServerListener IUdpArqServerListener;
typedef IUdpClientListener IUdpArqClientListener;
typedef CUdpServerListener CUdpArqServerListener;
typedef CUdpClientListener CUdpArqClientListener;

/* ---------------------------------------------------------------- implementation ---------- */

namespace shardnet_hp
{
/* C handle -> C++ component, for the callbacks (which get the C handle). A few components
 * per program: a short lock-free table, scanned up to its high-water mark. */
struct Registry {
    static constexpr int N = 1024;
    std::atomic<void*> keys[N];
    std::atomic<void*> vals[N];
    std::atomic<int> used{0};
    static Registry& get()
    {
        static Registry r;
        return r;
    }
    void add(void* k, void* v)
    {
        for (int i = 0; i < N; i++) {
            void* expected = nullptr;
            if (keys[i].compare_exchange_strong(expected, k)) {
                vals[i].store(v);
                int u = used.load();
                while (u < i + 1 && !used.compare_exchange_weak(u, i + 1)) {
                }
                return;
            }
        }
    }
    void* find(void* k)
    {
        int u = used.load(std::memory_order_acquire);
        for (int i = 0; i < u; i++)
            if (keys[i].load(std::memory_order_acquire) == k)
                return vals[i].load(std::memory_order_acquire);
        return nullptr;
    }
    /* Removes the entry of (k, v) only: a new component may already reuse address k. */
    void remove(void* k, void* v)
    {
        int u = used.load();
        for (int i = 0; i < u; i++)
            if (keys[i].load() == k && vals[i].load() == v) {
                vals[i].store(nullptr);
                keys[i].store(nullptr);
                return;
            }
    }
};

/* IComplexSocket over the HP_<P>_* C functions of handle m_h. */
#define SHARDNET_HP_COMPLEX(P)                                                                                   \
    BOOL Stop() override { return HP_##P##_Stop(m_h); }                                                          \
    BOOL Send(CONNID c, const BYTE* b, int n, int off = 0) override { return HP_##P##_SendPart(m_h, c, b, n, off); } \
    BOOL SendPackets(CONNID c, const WSABUF bufs[], int n) override { return HP_##P##_SendPackets(m_h, c, bufs, n); } \
    BOOL PauseReceive(CONNID c, BOOL p = TRUE) override { return HP_##P##_PauseReceive(m_h, c, p); }            \
    BOOL Disconnect(CONNID c, BOOL f = TRUE) override { return HP_##P##_Disconnect(m_h, c, f); }                \
    BOOL DisconnectLongConnections(DWORD t, BOOL f = TRUE) override { return HP_##P##_DisconnectLongConnections(m_h, t, f); } \
    BOOL DisconnectSilenceConnections(DWORD t, BOOL f = TRUE) override { return HP_##P##_DisconnectSilenceConnections(m_h, t, f); } \
    BOOL Wait(DWORD ms = INFINITE) override { return HP_##P##_Wait(m_h, ms); }                                  \
    BOOL SetConnectionExtra(CONNID c, PVOID x) override { return HP_##P##_SetConnectionExtra(m_h, c, x); }      \
    BOOL GetConnectionExtra(CONNID c, PVOID* x) override { return HP_##P##_GetConnectionExtra(m_h, c, x); }     \
    BOOL IsSecure() override { return HP_##P##_IsSecure(m_h); }                                                 \
    BOOL HasStarted() override { return HP_##P##_HasStarted(m_h); }                                             \
    EnServiceState GetState() override { return HP_##P##_GetState(m_h); }                                      \
    DWORD GetConnectionCount() override { return HP_##P##_GetConnectionCount(m_h); }                            \
    BOOL GetAllConnectionIDs(CONNID ids[], DWORD& n) override { return HP_##P##_GetAllConnectionIDs(m_h, ids, &n); } \
    BOOL GetConnectPeriod(CONNID c, DWORD& t) override { return HP_##P##_GetConnectPeriod(m_h, c, &t); }        \
    BOOL GetSilencePeriod(CONNID c, DWORD& t) override { return HP_##P##_GetSilencePeriod(m_h, c, &t); }        \
    BOOL GetLocalAddress(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_##P##_GetLocalAddress(m_h, c, a, &n, &p); } \
    BOOL GetRemoteAddress(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_##P##_GetRemoteAddress(m_h, c, a, &n, &p); } \
    EnSocketError GetLastError() override { return HP_##P##_GetLastError(m_h); }                               \
    LPCTSTR GetLastErrorDesc() override { return HP_##P##_GetLastErrorDesc(m_h); }                              \
    BOOL GetPendingDataLength(CONNID c, int& n) override { return HP_##P##_GetPendingDataLength(m_h, c, &n); }  \
    BOOL IsPauseReceive(CONNID c, BOOL& p) override { return HP_##P##_IsPauseReceive(m_h, c, &p); }             \
    BOOL IsConnected(CONNID c) override { return HP_##P##_IsConnected(m_h, c); }                                \
    void SetReuseAddressPolicy(EnReuseAddressPolicy v) override { HP_##P##_SetReuseAddressPolicy(m_h, v); }     \
    void SetSendPolicy(EnSendPolicy v) override { HP_##P##_SetSendPolicy(m_h, v); }                             \
    void SetOnSendSyncPolicy(EnOnSendSyncPolicy v) override { HP_##P##_SetOnSendSyncPolicy(m_h, v); }           \
    void SetMaxConnectionCount(DWORD v) override { HP_##P##_SetMaxConnectionCount(m_h, v); }                    \
    void SetFreeSocketObjLockTime(DWORD v) override { HP_##P##_SetFreeSocketObjLockTime(m_h, v); }              \
    void SetFreeSocketObjPool(DWORD v) override { HP_##P##_SetFreeSocketObjPool(m_h, v); }                      \
    void SetFreeBufferObjPool(DWORD v) override { HP_##P##_SetFreeBufferObjPool(m_h, v); }                      \
    void SetFreeSocketObjHold(DWORD v) override { HP_##P##_SetFreeSocketObjHold(m_h, v); }                      \
    void SetFreeBufferObjHold(DWORD v) override { HP_##P##_SetFreeBufferObjHold(m_h, v); }                      \
    void SetWorkerThreadCount(DWORD v) override { HP_##P##_SetWorkerThreadCount(m_h, v); }                      \
    void SetMarkSilence(BOOL v) override { HP_##P##_SetMarkSilence(m_h, v); }                                   \
    EnReuseAddressPolicy GetReuseAddressPolicy() override { return HP_##P##_GetReuseAddressPolicy(m_h); }       \
    EnSendPolicy GetSendPolicy() override { return HP_##P##_GetSendPolicy(m_h); }                               \
    EnOnSendSyncPolicy GetOnSendSyncPolicy() override { return HP_##P##_GetOnSendSyncPolicy(m_h); }             \
    DWORD GetMaxConnectionCount() override { return HP_##P##_GetMaxConnectionCount(m_h); }                      \
    DWORD GetFreeSocketObjLockTime() override { return HP_##P##_GetFreeSocketObjLockTime(m_h); }                \
    DWORD GetFreeSocketObjPool() override { return HP_##P##_GetFreeSocketObjPool(m_h); }                        \
    DWORD GetFreeBufferObjPool() override { return HP_##P##_GetFreeBufferObjPool(m_h); }                        \
    DWORD GetFreeSocketObjHold() override { return HP_##P##_GetFreeSocketObjHold(m_h); }                        \
    DWORD GetFreeBufferObjHold() override { return HP_##P##_GetFreeBufferObjHold(m_h); }                        \
    DWORD GetWorkerThreadCount() override { return HP_##P##_GetWorkerThreadCount(m_h); }                        \
    BOOL IsMarkSilence() override { return HP_##P##_IsMarkSilence(m_h); }

/* The C callbacks of one C++ component type `C` (its listener type `L`, sender type `S`). */
template <class C, class S, class L>
struct Trampolines {
    static C* of(void* h) { return static_cast<C*>(Registry::get().find(h)); }
    static En_HP_HandleResult __HP_CALL HandShake(void* h, HP_CONNID c)
    {
        C* o = of(h);
        return o ? o->m_l->OnHandShake(static_cast<S*>(o), c) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Send(void* h, HP_CONNID c, const BYTE* d, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnSend(static_cast<S*>(o), c, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Receive(void* h, HP_CONNID c, const BYTE* d, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnReceive(static_cast<S*>(o), c, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PullReceive(void* h, HP_CONNID c, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnReceive(static_cast<S*>(o), c, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Close(void* h, HP_CONNID c, En_HP_SocketOperation op, int e)
    {
        C* o = of(h);
        return o ? o->m_l->OnClose(static_cast<S*>(o), c, op, e) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Shutdown(void* h)
    {
        C* o = of(h);
        return o ? o->m_l->OnShutdown(static_cast<S*>(o)) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PrepareListen(void* h, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnPrepareListen(static_cast<S*>(o), (SOCKET)s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Accept(void* h, HP_CONNID c, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnAccept(static_cast<S*>(o), c, s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PrepareConnect(void* h, HP_CONNID c, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnPrepareConnect(static_cast<S*>(o), c, (SOCKET)s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Connect(void* h, HP_CONNID c)
    {
        C* o = of(h);
        return o ? o->m_l->OnConnect(static_cast<S*>(o), c) : HR_IGNORE;
    }
};

enum class Model { Push, Pull, Pack };

/* IClient's methods over an HP_Client handle `m_h` (TCP and UDP clients alike). */
#define SHARDNET_HP_CLIENT                                                                                        \
    BOOL Start(LPCTSTR host, USHORT port, BOOL async = TRUE, LPCTSTR bind = nullptr, USHORT lport = 0) override \
    {                                                                                                             \
        if (bind == nullptr && lport == 0)                                                                        \
            return HP_Client_Start(m_h, host, port, async);                                                       \
        return HP_Client_StartWithBindAddressAndLocalPort(m_h, host, port, async, bind, lport);                   \
    }                                                                                                             \
    BOOL Stop() override { return HP_Client_Stop(m_h); }                                                      \
    BOOL Send(const BYTE* b, int n, int off = 0) override { return HP_Client_SendPart(m_h, b, n, off); }      \
    BOOL SendPackets(const WSABUF bufs[], int n) override { return HP_Client_SendPackets(m_h, bufs, n); }     \
    BOOL PauseReceive(BOOL p = TRUE) override { return HP_Client_PauseReceive(m_h, p); }                      \
    BOOL Wait(DWORD ms = INFINITE) override { return HP_Client_Wait(m_h, ms); }                               \
    void SetExtra(PVOID x) override { HP_Client_SetExtra(m_h, x); }                                           \
    PVOID GetExtra() override { return HP_Client_GetExtra(m_h); }                                             \
    BOOL IsSecure() override { return HP_Client_IsSecure(m_h); }                                              \
    BOOL HasStarted() override { return HP_Client_HasStarted(m_h); }                                          \
    EnServiceState GetState() override { return HP_Client_GetState(m_h); }                                    \
    EnSocketError GetLastError() override { return HP_Client_GetLastError(m_h); }                             \
    LPCTSTR GetLastErrorDesc() override { return HP_Client_GetLastErrorDesc(m_h); }                           \
    CONNID GetConnectionID() override { return HP_Client_GetConnectionID(m_h); }                              \
    BOOL GetLocalAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Client_GetLocalAddress(m_h, a, &n, &p); }\
    BOOL GetRemoteHost(TCHAR a[], int& n, USHORT& p) override { return HP_Client_GetRemoteHost(m_h, a, &n, &p); }\
    BOOL GetPendingDataLength(int& n) override { return HP_Client_GetPendingDataLength(m_h, &n); }            \
    BOOL IsPauseReceive(BOOL& p) override { return HP_Client_IsPauseReceive(m_h, &p); }                       \
    BOOL IsConnected() override { return HP_Client_IsConnected(m_h); }                                        \
    void SetReuseAddressPolicy(EnReuseAddressPolicy v) override { HP_Client_SetReuseAddressPolicy(m_h, v); }  \
    void SetFreeBufferPoolSize(DWORD v) override { HP_Client_SetFreeBufferPoolSize(m_h, v); }                 \
    void SetFreeBufferPoolHold(DWORD v) override { HP_Client_SetFreeBufferPoolHold(m_h, v); }                 \
    EnReuseAddressPolicy GetReuseAddressPolicy() override { return HP_Client_GetReuseAddressPolicy(m_h); }    \
    DWORD GetFreeBufferPoolSize() override { return HP_Client_GetFreeBufferPoolSize(m_h); }                   \
    DWORD GetFreeBufferPoolHold() override { return HP_Client_GetFreeBufferPoolHold(m_h); }


/* ITcpServer (and its Pull / Pack faces) over an HP_TcpServer handle. */
template <class Face, Model M>
class TcpServerT : public Face
{
public:
    explicit TcpServerT(ITcpServerListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<TcpServerT, ITcpServer, ITcpServerListener> T;
        m_lc = Create_HP_TcpServerListener();
        HP_Set_FN_Server_OnPrepareListen(m_lc, T::PrepareListen);
        HP_Set_FN_Server_OnAccept(m_lc, T::Accept);
        HP_Set_FN_Server_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Server_OnSend(m_lc, T::Send);
        HP_Set_FN_Server_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Server_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Server_OnClose(m_lc, T::Close);
        HP_Set_FN_Server_OnShutdown(m_lc, T::Shutdown);
        m_h = M == Model::Pull ? Create_HP_TcpPullServer(m_lc) : M == Model::Pack ? Create_HP_TcpPackServer(m_lc) : Create_HP_TcpServer(m_lc);
        Registry::get().add(m_h, this);
    }
    /* Stops and frees the C component (once). Called by the final class's destructor while
     * the object is still whole, so no callback meets a half-destroyed object. */
    void Release()
    {
        if (!m_h)
            return;
        HP_Server_Stop(m_h);
        HP_Server_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        Destroy_HP_TcpServer(m_h);
        Destroy_HP_TcpServerListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpServerT() { Release(); }
    SHARDNET_HP_COMPLEX(Server)
    BOOL Start(LPCTSTR a, USHORT p) override { return HP_Server_Start(m_h, a, p); }
    BOOL GetListenAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Server_GetListenAddress(m_h, a, &n, &p); }
    BOOL SendSmallFile(CONNID c, LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpServer_SendSmallFile(m_h, c, f, h, t); }
    void SetAcceptSocketCount(DWORD v) override { HP_TcpServer_SetAcceptSocketCount(m_h, v); }
    void SetSocketBufferSize(DWORD v) override { HP_TcpServer_SetSocketBufferSize(m_h, v); }
    void SetSocketListenQueue(DWORD v) override { HP_TcpServer_SetSocketListenQueue(m_h, v); }
    void SetKeepAliveTime(DWORD v) override { HP_TcpServer_SetKeepAliveTime(m_h, v); }
    void SetKeepAliveInterval(DWORD v) override { HP_TcpServer_SetKeepAliveInterval(m_h, v); }
    DWORD GetAcceptSocketCount() override { return HP_TcpServer_GetAcceptSocketCount(m_h); }
    DWORD GetSocketBufferSize() override { return HP_TcpServer_GetSocketBufferSize(m_h); }
    DWORD GetSocketListenQueue() override { return HP_TcpServer_GetSocketListenQueue(m_h); }
    DWORD GetKeepAliveTime() override { return HP_TcpServer_GetKeepAliveTime(m_h); }
    DWORD GetKeepAliveInterval() override { return HP_TcpServer_GetKeepAliveInterval(m_h); }

    ITcpServerListener* m_l;

protected:
    HP_TcpServerListener m_lc;
    HP_TcpServer m_h;
};

/* ITcpAgent (and its Pull / Pack faces) over an HP_TcpAgent handle. */
template <class Face, Model M>
class TcpAgentT : public Face
{
public:
    explicit TcpAgentT(ITcpAgentListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<TcpAgentT, ITcpAgent, ITcpAgentListener> T;
        m_lc = Create_HP_TcpAgentListener();
        HP_Set_FN_Agent_OnPrepareConnect(m_lc, T::PrepareConnect);
        HP_Set_FN_Agent_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Agent_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Agent_OnSend(m_lc, T::Send);
        HP_Set_FN_Agent_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Agent_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Agent_OnClose(m_lc, T::Close);
        HP_Set_FN_Agent_OnShutdown(m_lc, T::Shutdown);
        m_h = M == Model::Pull ? Create_HP_TcpPullAgent(m_lc) : M == Model::Pack ? Create_HP_TcpPackAgent(m_lc) : Create_HP_TcpAgent(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Agent_Stop(m_h);
        HP_Agent_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        Destroy_HP_TcpAgent(m_h);
        Destroy_HP_TcpAgentListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpAgentT() { Release(); }
    SHARDNET_HP_COMPLEX(Agent)
    BOOL Start(LPCTSTR a = nullptr, BOOL async = TRUE) override { return HP_Agent_Start(m_h, a, async); }
    BOOL Connect(LPCTSTR host, USHORT port, CONNID* id = nullptr, PVOID extra = nullptr, USHORT lport = 0, LPCTSTR laddr = nullptr) override
    {
        if (lport == 0 && laddr == nullptr)
            return extra ? HP_Agent_ConnectWithExtra(m_h, host, port, id, extra) : HP_Agent_Connect(m_h, host, port, id);
        return HP_Agent_ConnectWithExtraAndLocalAddressPort(m_h, host, port, id, extra, lport, laddr);
    }
    BOOL GetRemoteHost(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_Agent_GetRemoteHost(m_h, c, a, &n, &p); }
    BOOL SendSmallFile(CONNID c, LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpAgent_SendSmallFile(m_h, c, f, h, t); }
    void SetSocketBufferSize(DWORD v) override { HP_TcpAgent_SetSocketBufferSize(m_h, v); }
    void SetKeepAliveTime(DWORD v) override { HP_TcpAgent_SetKeepAliveTime(m_h, v); }
    void SetKeepAliveInterval(DWORD v) override { HP_TcpAgent_SetKeepAliveInterval(m_h, v); }
    DWORD GetSocketBufferSize() override { return HP_TcpAgent_GetSocketBufferSize(m_h); }
    DWORD GetKeepAliveTime() override { return HP_TcpAgent_GetKeepAliveTime(m_h); }
    DWORD GetKeepAliveInterval() override { return HP_TcpAgent_GetKeepAliveInterval(m_h); }

    ITcpAgentListener* m_l;

protected:
    HP_TcpAgentListener m_lc;
    HP_TcpAgent m_h;
};

/* ITcpClient (and its Pull / Pack faces) over an HP_TcpClient handle. */
template <class Face, Model M>
class TcpClientT : public Face
{
public:
    explicit TcpClientT(ITcpClientListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<TcpClientT, ITcpClient, ITcpClientListener> T;
        m_lc = Create_HP_TcpClientListener();
        HP_Set_FN_Client_OnPrepareConnect(m_lc, T::PrepareConnect);
        HP_Set_FN_Client_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Client_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Client_OnSend(m_lc, T::Send);
        HP_Set_FN_Client_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Client_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Client_OnClose(m_lc, T::Close);
        m_h = M == Model::Pull ? Create_HP_TcpPullClient(m_lc) : M == Model::Pack ? Create_HP_TcpPackClient(m_lc) : Create_HP_TcpClient(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        Destroy_HP_TcpClient(m_h);
        Destroy_HP_TcpClientListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpClientT() { Release(); }
    SHARDNET_HP_CLIENT
    BOOL SendSmallFile(LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpClient_SendSmallFile(m_h, f, h, t); }
    void SetSocketBufferSize(DWORD v) override { HP_TcpClient_SetSocketBufferSize(m_h, v); }
    void SetKeepAliveTime(DWORD v) override { HP_TcpClient_SetKeepAliveTime(m_h, v); }
    void SetKeepAliveInterval(DWORD v) override { HP_TcpClient_SetKeepAliveInterval(m_h, v); }
    DWORD GetSocketBufferSize() override { return HP_TcpClient_GetSocketBufferSize(m_h); }
    DWORD GetKeepAliveTime() override { return HP_TcpClient_GetKeepAliveTime(m_h); }
    DWORD GetKeepAliveInterval() override { return HP_TcpClient_GetKeepAliveInterval(m_h); }

    ITcpClientListener* m_l;

protected:
    HP_TcpClientListener m_lc;
    HP_TcpClient m_h;
};

class TcpClient final : public TcpClientT<ITcpClient, Model::Push>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpClient() override { this->Release(); }
};

class TcpPullClient final : public TcpClientT<ITcpPullClient, Model::Pull>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpPullClient() override { this->Release(); }
    EnFetchResult Fetch(BYTE* d, int n) override { return HP_TcpPullClient_Fetch(m_h, d, n); }
    EnFetchResult Peek(BYTE* d, int n) override { return HP_TcpPullClient_Peek(m_h, d, n); }
};

class TcpPackClient final : public TcpClientT<ITcpPackClient, Model::Pack>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpPackClient() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackClient_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackClient_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackClient_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackClient_GetPackHeaderFlag(m_h); }
};

class TcpServer final : public TcpServerT<ITcpServer, Model::Push>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpServer() override { this->Release(); }
};

class TcpPullServer final : public TcpServerT<ITcpPullServer, Model::Pull>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpPullServer() override { this->Release(); }
    EnFetchResult Fetch(CONNID c, BYTE* d, int n) override { return HP_TcpPullServer_Fetch(m_h, c, d, n); }
    EnFetchResult Peek(CONNID c, BYTE* d, int n) override { return HP_TcpPullServer_Peek(m_h, c, d, n); }
};

class TcpPackServer final : public TcpServerT<ITcpPackServer, Model::Pack>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpPackServer() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackServer_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackServer_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackServer_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackServer_GetPackHeaderFlag(m_h); }
};

class TcpAgent final : public TcpAgentT<ITcpAgent, Model::Push>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpAgent() override { this->Release(); }
};

class TcpPullAgent final : public TcpAgentT<ITcpPullAgent, Model::Pull>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpPullAgent() override { this->Release(); }
    EnFetchResult Fetch(CONNID c, BYTE* d, int n) override { return HP_TcpPullAgent_Fetch(m_h, c, d, n); }
    EnFetchResult Peek(CONNID c, BYTE* d, int n) override { return HP_TcpPullAgent_Peek(m_h, c, d, n); }
};

class TcpPackAgent final : public TcpAgentT<ITcpPackAgent, Model::Pack>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpPackAgent() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackAgent_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackAgent_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackAgent_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackAgent_GetPackHeaderFlag(m_h); }
};

/* ARQ settings over the C functions of prefix P (UdpArqServer / UdpArqClient). */
#define SHARDNET_HP_ARQ(P)                                                                       \
    void SetNoDelay(BOOL v) override { HP_##P##_SetNoDelay(m_h, v); }                            \
    void SetTurnoffCongestCtrl(BOOL v) override { HP_##P##_SetTurnoffCongestCtrl(m_h, v); }      \
    void SetFlushInterval(DWORD v) override { HP_##P##_SetFlushInterval(m_h, v); }               \
    void SetResendByAcks(DWORD v) override { HP_##P##_SetResendByAcks(m_h, v); }                 \
    void SetSendWndSize(DWORD v) override { HP_##P##_SetSendWndSize(m_h, v); }                   \
    void SetRecvWndSize(DWORD v) override { HP_##P##_SetRecvWndSize(m_h, v); }                   \
    void SetMinRto(DWORD v) override { HP_##P##_SetMinRto(m_h, v); }                             \
    void SetFastLimit(DWORD v) override { HP_##P##_SetFastLimit(m_h, v); }                       \
    void SetMaxTransUnit(DWORD v) override { HP_##P##_SetMaxTransUnit(m_h, v); }                 \
    void SetMaxMessageSize(DWORD v) override { HP_##P##_SetMaxMessageSize(m_h, v); }             \
    void SetHandShakeTimeout(DWORD v) override { HP_##P##_SetHandShakeTimeout(m_h, v); }         \
    BOOL IsNoDelay() override { return HP_##P##_IsNoDelay(m_h); }                                \
    BOOL IsTurnoffCongestCtrl() override { return HP_##P##_IsTurnoffCongestCtrl(m_h); }          \
    DWORD GetFlushInterval() override { return HP_##P##_GetFlushInterval(m_h); }                 \
    DWORD GetResendByAcks() override { return HP_##P##_GetResendByAcks(m_h); }                   \
    DWORD GetSendWndSize() override { return HP_##P##_GetSendWndSize(m_h); }                    \
    DWORD GetRecvWndSize() override { return HP_##P##_GetRecvWndSize(m_h); }                    \
    DWORD GetMinRto() override { return HP_##P##_GetMinRto(m_h); }                               \
    DWORD GetFastLimit() override { return HP_##P##_GetFastLimit(m_h); }                         \
    DWORD GetMaxTransUnit() override { return HP_##P##_GetMaxTransUnit(m_h); }                   \
    DWORD GetMaxMessageSize() override { return HP_##P##_GetMaxMessageSize(m_h); }               \
    DWORD GetHandShakeTimeout() override { return HP_##P##_GetHandShakeTimeout(m_h); }

/* IUdpServer (and, with ARQ, IUdpArqServer) over an HP_UdpServer / HP_UdpArqServer handle. */
template <class Face, bool Arq>
class UdpServerT : public Face
{
public:
    explicit UdpServerT(IUdpServerListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<UdpServerT, IUdpServer, IUdpServerListener> T;
        m_lc = Arq ? Create_HP_UdpArqServerListener() : Create_HP_UdpServerListener();
        HP_Set_FN_Server_OnPrepareListen(m_lc, T::PrepareListen);
        HP_Set_FN_Server_OnAccept(m_lc, T::Accept);
        HP_Set_FN_Server_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Server_OnSend(m_lc, T::Send);
        HP_Set_FN_Server_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Server_OnClose(m_lc, T::Close);
        HP_Set_FN_Server_OnShutdown(m_lc, T::Shutdown);
        m_h = Arq ? Create_HP_UdpArqServer(m_lc) : Create_HP_UdpServer(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Server_Stop(m_h);
        HP_Server_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (Arq) {
            Destroy_HP_UdpArqServer(m_h);
            Destroy_HP_UdpArqServerListener(m_lc);
        } else {
            Destroy_HP_UdpServer(m_h);
            Destroy_HP_UdpServerListener(m_lc);
        }
        m_h = nullptr;
    }
    virtual ~UdpServerT() { Release(); }
    SHARDNET_HP_COMPLEX(Server)
    BOOL Start(LPCTSTR a, USHORT p) override { return HP_Server_Start(m_h, a, p); }
    BOOL GetListenAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Server_GetListenAddress(m_h, a, &n, &p); }
    void SetMaxDatagramSize(DWORD v) override { HP_UdpServer_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpServer_GetMaxDatagramSize(m_h); }
    void SetPostReceiveCount(DWORD v) override { HP_UdpServer_SetPostReceiveCount(m_h, v); }
    DWORD GetPostReceiveCount() override { return HP_UdpServer_GetPostReceiveCount(m_h); }
    void SetDetectAttempts(DWORD v) override { HP_UdpServer_SetDetectAttempts(m_h, v); }
    void SetDetectInterval(DWORD v) override { HP_UdpServer_SetDetectInterval(m_h, v); }
    DWORD GetDetectAttempts() override { return HP_UdpServer_GetDetectAttempts(m_h); }
    DWORD GetDetectInterval() override { return HP_UdpServer_GetDetectInterval(m_h); }

    IUdpServerListener* m_l;

protected:
    HP_UdpServerListener m_lc;
    HP_UdpServer m_h;
};

class UdpServer final : public UdpServerT<IUdpServer, false>
{
public:
    using UdpServerT::UdpServerT;
    ~UdpServer() override { this->Release(); }
};

class UdpArqServer final : public UdpServerT<IUdpArqServer, true>
{
public:
    using UdpServerT::UdpServerT;
    ~UdpArqServer() override { this->Release(); }
    SHARDNET_HP_ARQ(UdpArqServer)
    BOOL GetWaitingSendMessageCount(CONNID c, int& n) override { return HP_UdpArqServer_GetWaitingSendMessageCount(m_h, c, &n); }
};

/* IUdpClient (and, with ARQ, IUdpArqClient) over an HP_UdpClient / HP_UdpArqClient handle. */
template <class Face, bool Arq>
class UdpClientT : public Face
{
public:
    explicit UdpClientT(IUdpClientListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<UdpClientT, IUdpClient, IUdpClientListener> T;
        m_lc = Arq ? Create_HP_UdpArqClientListener() : Create_HP_UdpClientListener();
        HP_Set_FN_Client_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Client_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Client_OnSend(m_lc, T::Send);
        HP_Set_FN_Client_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Client_OnClose(m_lc, T::Close);
        m_h = Arq ? Create_HP_UdpArqClient(m_lc) : Create_HP_UdpClient(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (Arq) {
            Destroy_HP_UdpArqClient(m_h);
            Destroy_HP_UdpArqClientListener(m_lc);
        } else {
            Destroy_HP_UdpClient(m_h);
            Destroy_HP_UdpClientListener(m_lc);
        }
        m_h = nullptr;
    }
    virtual ~UdpClientT() { Release(); }
    SHARDNET_HP_CLIENT
    void SetMaxDatagramSize(DWORD v) override { HP_UdpClient_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpClient_GetMaxDatagramSize(m_h); }
    void SetDetectAttempts(DWORD v) override { HP_UdpClient_SetDetectAttempts(m_h, v); }
    void SetDetectInterval(DWORD v) override { HP_UdpClient_SetDetectInterval(m_h, v); }
    DWORD GetDetectAttempts() override { return HP_UdpClient_GetDetectAttempts(m_h); }
    DWORD GetDetectInterval() override { return HP_UdpClient_GetDetectInterval(m_h); }

    IUdpClientListener* m_l;

protected:
    HP_UdpClientListener m_lc;
    HP_UdpClient m_h;
};

class UdpClient final : public UdpClientT<IUdpClient, false>
{
public:
    using UdpClientT::UdpClientT;
    ~UdpClient() override { this->Release(); }
};

class UdpArqClient final : public UdpClientT<IUdpArqClient, true>
{
public:
    using UdpClientT::UdpClientT;
    ~UdpArqClient() override { this->Release(); }
    SHARDNET_HP_ARQ(UdpArqClient)
    BOOL GetWaitingSendMessageCount(int& n) override { return HP_UdpArqClient_GetWaitingSendMessageCount(m_h, &n); }
};
#undef SHARDNET_HP_ARQ

#undef SHARDNET_HP_COMPLEX
#undef SHARDNET_HP_CLIENT
} // namespace shardnet_hp

/* ---------------------------------------------------------------- smart pointers ---------- */

template <class T, class _Creator>
class CHPBasePtr
{
public:
    CHPBasePtr& Reset(T* pObj = nullptr)
    {
        if (pObj != m_pObj) {
            if (m_pObj)
                _Creator::Destroy(m_pObj);
            m_pObj = pObj;
        }
        return *this;
    }
    CHPBasePtr& Attach(T* pObj) { return Reset(pObj); }
    T* Detach()
    {
        T* pObj = m_pObj;
        m_pObj = nullptr;
        return pObj;
    }
    BOOL IsValid() const { return m_pObj != nullptr; }
    T* Get() const { return m_pObj; }
    T* operator->() const { return m_pObj; }
    operator T*() const { return m_pObj; }
    CHPBasePtr& operator=(T* pObj) { return Reset(pObj); }

    CHPBasePtr() : m_pObj(nullptr) {}
    virtual ~CHPBasePtr() { Reset(); }
    CHPBasePtr(const CHPBasePtr&) = delete;
    CHPBasePtr& operator=(const CHPBasePtr&) = delete;

protected:
    T* m_pObj;
};

template <class T, class _Listener, class _Creator>
class CHPSocketPtr : public CHPBasePtr<T, _Creator>
{
public:
    CHPSocketPtr(_Listener* pListener) { this->m_pObj = pListener ? _Creator::Create(pListener) : nullptr; }
    CHPSocketPtr() {}
};

template <class I, class Impl, class L>
struct ShardnetCreator {
    static I* Create(L* pListener) { return new Impl(pListener); }
    static void Destroy(I* pObj) { delete pObj; }
};

typedef CHPSocketPtr<ITcpServer, ITcpServerListener, ShardnetCreator<ITcpServer, shardnet_hp::TcpServer, ITcpServerListener>> CTcpServerPtr;
typedef CHPSocketPtr<ITcpPullServer, ITcpServerListener, ShardnetCreator<ITcpPullServer, shardnet_hp::TcpPullServer, ITcpServerListener>> CTcpPullServerPtr;
typedef CHPSocketPtr<ITcpPackServer, ITcpServerListener, ShardnetCreator<ITcpPackServer, shardnet_hp::TcpPackServer, ITcpServerListener>> CTcpPackServerPtr;
typedef CHPSocketPtr<ITcpAgent, ITcpAgentListener, ShardnetCreator<ITcpAgent, shardnet_hp::TcpAgent, ITcpAgentListener>> CTcpAgentPtr;
typedef CHPSocketPtr<ITcpPullAgent, ITcpAgentListener, ShardnetCreator<ITcpPullAgent, shardnet_hp::TcpPullAgent, ITcpAgentListener>> CTcpPullAgentPtr;
typedef CHPSocketPtr<ITcpPackAgent, ITcpAgentListener, ShardnetCreator<ITcpPackAgent, shardnet_hp::TcpPackAgent, ITcpAgentListener>> CTcpPackAgentPtr;
typedef CHPSocketPtr<ITcpClient, ITcpClientListener, ShardnetCreator<ITcpClient, shardnet_hp::TcpClient, ITcpClientListener>> CTcpClientPtr;
typedef CHPSocketPtr<ITcpPullClient, ITcpClientListener, ShardnetCreator<ITcpPullClient, shardnet_hp::TcpPullClient, ITcpClientListener>> CTcpPullClientPtr;
typedef CHPSocketPtr<ITcpPackClient, ITcpClientListener, ShardnetCreator<ITcpPackClient, shardnet_hp::TcpPackClient, ITcpClientListener>> CTcpPackClientPtr;
typedef CHPSocketPtr<IUdpServer, IUdpServerListener, ShardnetCreator<IUdpServer, shardnet_hp::UdpServer, IUdpServerListener>> CUdpServerPtr;
typedef CHPSocketPtr<IUdpArqServer, IUdpServerListener, ShardnetCreator<IUdpArqServer, shardnet_hp::UdpArqServer, IUdpServerListener>> CUdpArqServerPtr;
typedef CHPSocketPtr<IUdpClient, IUdpClientListener, ShardnetCreator<IUdpClient, shardnet_hp::UdpClient, IUdpClientListener>> CUdpClientPtr;
typedef CHPSocketPtr<IUdpArqClient, IUdpClientListener, ShardnetCreator<IUdpArqClient, shardnet_hp::UdpArqClient, IUdpClientListener>> CUdpArqClientPtr;

#endif /* __cplusplus */
#endif

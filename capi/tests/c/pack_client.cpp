// HP's C++ client classes: a CTcpClientListener subclass behind a CTcpPackClientPtr, connected
// synchronously to a shardnet Pack server (argv[1] = port, header flag 0x169); three messages,
// each echoed whole in OnReceive; Stop.
#include <hpsocket/HPSocket.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

static std::atomic<int> received{0};

class CClientListener : public CTcpClientListener
{
public:
    virtual EnHandleResult OnConnect(ITcpClient* pSender, CONNID dwConnID) override
    {
        printf("connect %d\n", dwConnID == pSender->GetConnectionID() ? 1 : 0);
        return HR_OK;
    }
    virtual EnHandleResult OnReceive(ITcpClient* pSender, CONNID dwConnID, const BYTE* pData, int iLength) override
    {
        (void)pSender;
        (void)dwConnID;
        printf("recv %d %.*s\n", iLength, iLength, (const char*)pData);
        received++;
        return HR_OK;
    }
    virtual EnHandleResult OnClose(ITcpClient* pSender, CONNID dwConnID, EnSocketOperation enOperation, int iErrorCode) override
    {
        (void)pSender;
        (void)dwConnID;
        printf("close %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
};

int main(int argc, char* argv[])
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    if (argc != 2)
        return 2;
    CClientListener listener;
    CTcpPackClientPtr client(&listener);
    client->SetPackHeaderFlag(0x169);
    client->SetMaxPackSize(0xFFFF);
    if (!client->Start("127.0.0.1", (USHORT)atoi(argv[1]), FALSE)) {
        printf("start failed %d %s\n", (int)client->GetLastError(), client->GetLastErrorDesc());
        return 1;
    }
    if (!client->IsConnected() || client->GetConnectionID() == 0)
        return printf("not connected\n"), 1;
    const char* msgs[] = {"first", "second one", "third and last"};
    for (const char* m : msgs)
        if (!client->Send((const BYTE*)m, (int)strlen(m)))
            return printf("send failed\n"), 1;
    for (int t = 0; t < 500 && received.load() < 3; t++)
        usleep(10000);
    client->Stop();
    printf("stopped %d\n", (int)client->GetState());
    return 0;
}
